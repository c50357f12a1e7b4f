"""The crowd lane's statements (see crowd_lane.py), compiled once for psycopg.

They run on the driver's connection with ``%(name)s`` parameters: on a path of
two or three round trips, SQLAlchemy's per-statement work (result metadata,
type processing) was about a quarter of the lane's CPU time. The statements
that carry a rule or an invariant are not written here: the facts query is
``rules.FACTS`` and the seat claim and the queue number are
``services.booking.claim_statement`` and ``number_statement``, the very
statements the full path runs, compiled for the driver. What is written here
is bookkeeping: logging the message and its reply, the attempt record, the
audit chain's append.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Date, Integer, String, bindparam, insert, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from sms_gateway.models import (
    Booking,
    BookingAttempt,
    BookingStatus,
    Direction,
    UTCDateTime,
)
from sms_gateway.rules import FACTS as FACTS_STATEMENT
from sms_gateway.services.booking import claim_statement, number_statement

_DIALECT = postgresql.psycopg.dialect()  # type: ignore[attr-defined]


def driver_sql(statement: ClauseElement) -> tuple[str, dict[str, Any]]:
    """Compile a Core statement for psycopg: its SQL and the values it binds itself.

    Execute with ``{**constants, **values}``: the constants (statuses, the
    direction, literals) come from the statement, the values from the request.
    """
    compiled = statement.compile(dialect=_DIALECT)
    constants = {k: v for k, v in compiled.params.items() if v is not None}
    return str(compiled), constants


# Everything the rules need, in one round trip (rules.py).
FACTS, FACTS_CONSTANTS = driver_sql(FACTS_STATEMENT)


# Claims the provider id, exactly as the full path does first thing: a retry of a
# message still being handled waits here for it, then conflicts and writes nothing.
CLAIM_INBOUND = f"""
    INSERT INTO messages
      (direction, transport, external_id, phone, gateway_number, body, created_at, attempts)
    VALUES ('{Direction.IN.value}', %(transport)s, %(external_id)s, %(phone)s,
            %(gateway_number)s, %(inbound_body)s, %(now)s, 0)
    ON CONFLICT (transport, external_id) WHERE direction = '{Direction.IN.value}' DO NOTHING
    RETURNING id
"""


def lock_identities(count: int) -> str:
    """Return the statement taking ``count`` advisory locks, bound as k0, k1, ... in order.

    PostgreSQL evaluates a select list left to right: the keys are taken in the
    order given (the sender's phone first, as the inbox takes it, then the NIK).
    """
    return "SELECT " + ", ".join(f"pg_advisory_xact_lock(%(k{i})s)" for i in range(count))


def _reply_statement(*, with_attempt: bool) -> str:
    """Return the statement logging a lane answer's reply (and, for DAFTAR, its attempt)."""
    attempt = (
        """WITH attempt AS (
      INSERT INTO booking_attempts (at, phone, nik_hash, nik_masked, office_code, outcome)
      VALUES (%(now)s, %(phone)s, %(nik_hash)s, %(nik_masked)s, %(office)s, %(outcome)s)
    )
    """
        if with_attempt
        else ""
    )
    return f"""
    {attempt}INSERT INTO messages
      (direction, transport, phone, gateway_number, body, reply_to_id, created_at,
       status, attempts)
    VALUES ('{Direction.OUT.value}', %(transport)s, %(phone)s, %(gateway_number)s,
            %(reply_body)s, %(reply_to)s, %(now)s, %(status)s, 0)
    RETURNING id
"""


REPLY_WITH_ATTEMPT = _reply_statement(with_attempt=True)  # DAFTAR: the fraud report reads them
REPLY = _reply_statement(with_attempt=False)

# The stored reply to an earlier delivery of the same provider message id.
EARLIER_REPLY = f"""
    SELECT reply.id, reply.body, reply.status
    FROM messages AS inbound
    LEFT JOIN messages AS reply ON reply.reply_to_id = inbound.id
    WHERE inbound.transport = %(transport)s AND inbound.external_id = %(external_id)s
      AND inbound.direction = '{Direction.IN.value}'
    ORDER BY reply.id
    LIMIT 1
"""


def _take_seat() -> ClauseElement:
    """Take the seat, number it, record the booking and the attempt: one statement.

    The claim and the number are the full path's statements (as CTEs); each
    step feeds the next, so a session that filled or closed meanwhile (no row
    from the claim) writes nothing at all. The unique indexes still decide: a
    phone, NIK, code or number taken meanwhile fails the statement.
    """
    office = bindparam("office", type_=String)
    day = bindparam("day", type_=Date)
    claim = claim_statement(
        postgresql.insert,
        office,
        day,
        bindparam("session", type_=String),
        bindparam("quota", type_=Integer),
    ).cte("claim")
    number = number_statement(postgresql.insert, office, day, source=claim).cte("number")
    now = bindparam("now", type_=UTCDateTime())
    columns = {
        "office_code": office,
        "booking_date": day,
        "session_name": bindparam("session", type_=String),
        "queue_seq": number.c.last_queue_seq,
        "code": bindparam("code", type_=String),
        "phone": bindparam("phone", type_=String),
        "nik_hash": bindparam("nik_hash", type_=String),
        "nik_masked": bindparam("nik_masked", type_=String),
        "status": literal(BookingStatus.ACTIVE.value, String),
        "created_at": now,
        "reschedules": literal(0, Integer),
        "late_cancel": literal(False, Boolean),
    }
    booking = (
        insert(Booking.__table__)
        .from_select(list(columns), select(*columns.values()).select_from(number))
        .returning(Booking.__table__.c.id, Booking.__table__.c.queue_seq)
        .cte("booking")
    )
    attempt_columns = {
        "at": now,
        "phone": bindparam("phone", type_=String),
        "nik_hash": bindparam("nik_hash", type_=String),
        "nik_masked": bindparam("nik_masked", type_=String),
        "office_code": office,
        "outcome": literal("booked", String),
    }
    attempt = (
        insert(BookingAttempt.__table__)
        .from_select(list(attempt_columns), select(*attempt_columns.values()).select_from(booking))
        .cte("attempt")
    )
    return select(booking.c.id, booking.c.queue_seq).add_cte(attempt)


TAKE_SEAT, TAKE_SEAT_CONSTANTS = driver_sql(_take_seat())

# The audit chain's head, locked as AuditChain.append locks it, until the commit.
LOCK_CHAIN_HEAD = "SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE"

# Appends the booking's record to the chain and logs the reply, before the COMMIT.
SEAL_AND_REPLY = f"""
    WITH record AS (
      INSERT INTO audit_chain (seq, at, kind, subject, data, prev_hash, hash)
      VALUES (%(seq)s, %(at)s, %(kind)s, %(subject)s, %(data)s, %(prev_hash)s, %(hash)s)
    ), head AS (
      UPDATE audit_chain_head SET seq = %(seq)s, hash = %(hash)s WHERE id = 1
    )
    INSERT INTO messages
      (direction, transport, phone, gateway_number, body, reply_to_id, created_at,
       status, attempts)
    VALUES ('{Direction.OUT.value}', %(transport)s, %(phone)s, %(gateway_number)s,
            %(reply_body)s, %(reply_to)s, %(now)s, %(status)s, 0)
    RETURNING id
"""
