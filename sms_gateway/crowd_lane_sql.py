"""The crowd lane's statements (see crowd_lane.py), for psycopg's client-side cursor.

The lane sends each step as ONE simple-protocol query holding several
statements ("BEGIN; ...; EXECUTE lane_facts(...)"), its parameters bound on
the client: one call into the driver and one round trip per step. Through
psycopg's pipeline mode each statement cost about 50 us of driver work more,
and on a path of five statements that was a fifth of the lane's time.

The two big statements are prepared once per connection (``PREPARED``, run by
``create_lane_engine`` when it connects) and executed by name, so PostgreSQL
plans them once per connection instead of on every message. They carry the
rules and the invariants, and they are not written here: the facts query is
``rules.FACTS`` and the seat claim and queue number are
``services.seats.claim_statement`` and ``number_statement``, the very
statements the full path runs, compiled for PREPARE. What is written here is
bookkeeping: logging the message and its reply, the attempt record, the audit
chain's append.
"""

from __future__ import annotations

import re
from typing import Any, cast

from sqlalchemy import Boolean, Date, Integer, String, bindparam, insert, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler

from sms_gateway.models import (
    Booking,
    BookingAttempt,
    BookingStatus,
    Direction,
    UTCDateTime,
)
from sms_gateway.rules import FACTS as FACTS_STATEMENT
from sms_gateway.services.seats import claim_statement, number_statement

# $1, $2 ... placeholders (as PREPARE wants them), each with its type cast.
_DIALECT = postgresql.psycopg.dialect(paramstyle="numeric_dollar")


_NAMED = re.compile(r"%\((\w+)\)s")


class Prepared:
    """A statement the lane's connections PREPARE once and EXECUTE by name.

    Planned once per connection: in a simple-protocol query every statement
    would otherwise be planned again on every message (the facts query's plan
    alone costs about half a millisecond).
    """

    def __init__(self, name: str, statement: ClauseElement | str) -> None:
        if isinstance(statement, str):  # bookkeeping SQL with %(name)s parameters
            order = list(dict.fromkeys(_NAMED.findall(statement)))
            body = _NAMED.sub(lambda m: f"${order.index(m.group(1)) + 1}", statement)
            self.constants: dict[str, Any] = {}
        else:  # a Core statement: $n placeholders, each with its type cast
            compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
            order = list(compiled.positiontup or [])
            body = str(compiled)
            # What the statement binds itself (statuses, literals); the rest by name.
            self.constants = {k: v for k, v in compiled.params.items() if v is not None}
        self.name = name
        self.prepare = f"PREPARE {name} AS {body}"
        self.execute = f"EXECUTE {name}(" + ", ".join(f"%({p})s" for p in order) + ")"

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        """Return the parameters of ``execute``: the statement's constants and ``values``."""
        return {**self.constants, **values}


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


def claim_and_lock(count: int) -> str:
    """Return the statement that claims the provider id and takes ``count`` advisory locks.

    The keys are bound as k0, k1, ... and taken in that order (PostgreSQL
    evaluates a select list left to right): the sender's phone first, as the
    inbox takes it, then the NIK. The inbound id is None for a provider retry.
    One statement, so one less for the driver; the facts are read by the next
    one, whose snapshot is taken once the locks are held.
    """
    locks = ", ".join(f"pg_advisory_xact_lock(%(k{i})s)" for i in range(count))
    return f"WITH claimed AS ({CLAIM_INBOUND}) SELECT (SELECT id FROM claimed), {locks}"


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
    columns: dict[str, ColumnElement[Any]] = {
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
    attempt_columns: dict[str, ColumnElement[Any]] = {
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

# Every statement the lane runs, prepared on each of its connections.
FACTS = Prepared("lane_facts", FACTS_STATEMENT)  # everything the rules need (rules/facts_query.py)
TAKE_SEAT = Prepared("lane_take_seat", _take_seat())  # the seat, its number, the booking
CLAIM_AND_LOCK = (
    Prepared("lane_claim_lock1", claim_and_lock(1)),  # CEK, BATAL: the sender
    Prepared("lane_claim_lock2", claim_and_lock(2)),  # DAFTAR: the sender, then the NIK
)
REPLY_ONLY = Prepared("lane_reply", REPLY)
REPLY_AND_ATTEMPT = Prepared("lane_reply_attempt", REPLY_WITH_ATTEMPT)
SEAL_REPLY = Prepared("lane_seal", SEAL_AND_REPLY)
EARLIER = Prepared("lane_earlier", EARLIER_REPLY)
PREPARED = (FACTS, TAKE_SEAT, *CLAIM_AND_LOCK, REPLY_ONLY, REPLY_AND_ATTEMPT, SEAL_REPLY, EARLIER)

# The steps, each one query of several statements (module docstring).


def look(lock_keys: int) -> str:
    """Step 1: begin, claim the message, take the locks, read the facts."""
    return f"BEGIN; {CLAIM_AND_LOCK[lock_keys - 1].execute}; {FACTS.execute}"


ANSWER = f"{REPLY_ONLY.execute}; COMMIT"  # a refusal, CEK: the reply, and done
ANSWER_WITH_ATTEMPT = f"{REPLY_AND_ATTEMPT.execute}; COMMIT"  # a DAFTAR's, with its attempt
TAKE = f"SET LOCAL synchronous_commit = on; {TAKE_SEAT.execute}; {LOCK_CHAIN_HEAD}"
SEAL = f"{SEAL_REPLY.execute}; COMMIT"
