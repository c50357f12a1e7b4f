"""The crowd lane: the flash crowd's commonest messages, in two or three round trips.

When an office opens its quota, thousands of texts arrive within minutes and
nearly all of them are one case: a DAFTAR from someone the gateway knows
nothing about, for a day whose seats are already gone; in the first seconds,
the same DAFTAR for a day that still has seats. The full path
(``application/inbox.py``) answers both correctly, but spends a savepoint and
some twenty ORM statements doing it, and while it books, every other booking
of the day queues behind it on the day's seat counter. On PostgreSQL this
lane answers DAFTAR, and CEK/BATAL of nothing, with the full path's rules and
locks and in fewer round trips. It states no rule of its own: it reads the
facts with the rules engine's own query (``rules.FACTS``, compiled once for
the driver), asks the same ``rules.decide()``, and carries out the decision
with the full path's own seat claim and numbering statements. What makes it
fast is only how it talks to the database: the driver's connection, each
step one query of several statements (one call, one round trip), the big
statements prepared once per connection, a refusal that does not wait for the
WAL (crowd_lane_sql.py).

1. One query: BEGIN; claim the provider's message id (a retry then finds it
   taken and gets the stored reply) and take the sender's advisory lock, then
   the NIK's (the full path's locks, in its order); read the facts.
2. Decide. A refusal (the day is full, the NIK holds a booking, the phone is
   blocked, ...) or a repeat of a granted DAFTAR is answered in one more
   query: the attempt record, the reply, COMMIT.
3. A seat: one query takes it and numbers it (one statement, which writes
   nothing if the session filled or closed meanwhile), records the booking
   and the attempt, and locks the audit chain's head; a last one appends the
   chain record, logs the reply and commits, durably (``synchronous_commit``
   is on for a booking's transaction).

The lane declines (returns None, having written nothing: its transaction
rolls back) whatever it cannot carry out as the full path would: another
command, a malformed request (the full path explains it), a lottery office, a
phone over its hourly limit, a holding booking whose day is over (the full
path closes it), a session whose quota is 0 (opened by staff override only),
a seat claim refused, a unique index or a deadlock. The full path then
answers, and retries, as always. SQLite has no lane.

``tests/test_crowd_lane.py`` holds the lane to the full path's replies and
rows, rule by rule, and ``tests/test_rules.py`` proves that a rule
added to ``decide()`` alone is obeyed here too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import ExecStatus, TransactionStatus
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from sms_gateway import crowd_lane_sql as sql
from sms_gateway import metrics, replies
from sms_gateway.application.router import Router
from sms_gateway.booking_request import BookingRequest, parse_request
from sms_gateway.errors import DomainError, NoActiveBooking
from sms_gateway.messages import InboundMessage, Outcome, Reply
from sms_gateway.models import HOLDING, Booking, BookingStatus, SendStatus
from sms_gateway.parser import Command, parse
from sms_gateway.phones import mask_phone
from sms_gateway.redact import redact, redact_command
from sms_gateway.rules import (
    Ask,
    Decision,
    Facts,
    Refuse,
    Repeat,
    Seat,
    Want,
    decide,
    facts_from_rows,
    facts_params,
    over_hourly_limit,
    stale_bookings,
)
from sms_gateway.services.booking import new_booking_code
from sms_gateway.services.chain import AuditChain
from sms_gateway.services.chain_records import new_record, pseudonym
from sms_gateway.services.core import Core
from sms_gateway.services.transitions import identity_lock_keys

log = logging.getLogger(__name__)

LANE_APPLICATION_NAME = "sms-gateway crowd lane"

# The commands the lane answers, by their routes' keywords (as the metrics label them).
DAFTAR = "DAFTAR"
CEK_OR_BATAL = ("CEK", "BATAL")  # of nothing; CEK of a booking too

# A booking that loses one of these leaves the message to the full path, which
# retries it and then sees the winner (application/inbox.py does the same).
_LOST_RACE = (
    psycopg.IntegrityError,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)


@dataclass(frozen=True)
class _Answer:
    """An answer that changes nothing but the message log (and the attempts, for DAFTAR)."""

    text: str
    attempt: str | None  # the outcome of the booking_attempts row of a DAFTAR
    outcome: Outcome  # as the metrics count it: "ok" or "refused"


def create_lane_engine(url: Any) -> Engine:
    """Return the lane's own pool: autocommit, so the lane writes BEGIN and COMMIT itself.

    Each new connection prepares the lane's big statements (crowd_lane_sql.py).

    No pre-ping (the main engine pings every checkout; here it would add a round
    trip to a two-round-trip path): a connection that died with the server fails
    its statement, the request gets a 503 that the provider retries, and the
    lane renews the pool.

    ``synchronous_commit = off`` for these connections, outside a booking: a
    refusal writes nothing but its log (the message, the attempt, the reply), so
    it need not wait for the WAL to reach the disk. A server crash may lose the
    last fraction of a second of such log rows (PostgreSQL's guarantee: lost,
    never inconsistent). A booking's transaction sets it back on (SET LOCAL):
    every booking is acknowledged only once it is durable, as on the full path.
    """
    engine = create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "connect_timeout": 10,
            # Named, so pg_stat_activity tells the lane's connections from the main pool's.
            "application_name": LANE_APPLICATION_NAME,
        },
    )

    @event.listens_for(engine, "connect")
    def _prepare(dbapi_conn: psycopg.Connection, _record: ConnectionPoolEntry) -> None:
        # Per connection, not in the URL's options, which may already set search_path.
        dbapi_conn.execute("SET synchronous_commit = off")
        # The big statements, planned once per connection (crowd_lane_sql.PREPARED).
        for statement in sql.PREPARED:
            dbapi_conn.execute(statement.prepare)
        dbapi_conn.commit()

    return engine


class CrowdLane:
    """Answer the crowd's DAFTAR, CEK and BATAL as the full path would; or decline."""

    def __init__(self, engine: Engine, core: Core, router: Router, chain: AuditChain) -> None:
        self.engine = engine
        self.core = core
        self.chain = chain
        # The words (keyword and aliases) of each command the lane may answer.
        self._keyword = {word: route.keyword for route in router.routes for word in route.words}

    def answer(self, message: InboundMessage, now: datetime) -> Reply | None:
        """Return the reply if the lane may answer ``message``; None to take the full path."""
        command = parse(message.text)
        keyword = self._keyword.get(command.word)
        request: BookingRequest | None = None
        if keyword == DAFTAR:
            request = self._request(message, command, now)
            if request is None:
                return None
        elif keyword not in CEK_OR_BATAL:
            return None
        try:
            pooled = self.engine.raw_connection()
        except psycopg.Error as exc:  # the server is down: the pool's error is the driver's
            raise self._wrapped(exc, None) from None
        try:
            # The lane's engine is psycopg's; a fresh checkout is never invalidated (None).
            conn = cast(psycopg.Connection, pooled.driver_connection)
            try:
                return self._answer(conn, message, keyword, request, now)
            except _LOST_RACE as exc:
                _rollback(conn)
                log.info("the lane lost a race (%s); the full path answers", type(exc).__name__)
                return None
            except psycopg.Error:
                if not conn.broken:
                    _rollback(conn)
                raise
        except psycopg.Error as exc:
            raise self._wrapped(exc, pooled) from None
        finally:
            pooled.close()  # back to the pool (or gone, if invalidated)

    def _answer(
        self,
        conn: psycopg.Connection,
        message: InboundMessage,
        keyword: str,
        request: BookingRequest | None,
        now: datetime,
    ) -> Reply | None:
        """Claim the message, lock, read the facts, decide; answer or decline."""
        office = request.office if request is not None else self.core.office_for(message.recipient)
        nik_hash = request.nik.keyed_hash(self.core.nik_secret) if request is not None else ""
        day = request.day if request is not None else self.core.calendar.today(office, now)
        # The lane binds its parameters itself, past the column type: mask here,
        # with the very function the inbox uses.
        inbound_body = redact_command(message.text)
        base = self._message_params(message, inbound_body, now)
        keys = [identity_lock_keys(message.sender)[0]]
        if nik_hash:
            keys += [k for k in identity_lock_keys(nik_hash) if k not in keys]
        cur = psycopg.ClientCursor(conn)
        cur.execute(
            sql.look(len(keys)),
            sql.FACTS.params(
                {
                    **base,
                    **{f"k{i}": k for i, k in enumerate(keys)},
                    **facts_params(
                        self.core.calendar,
                        office,
                        message.sender,
                        nik_hash,
                        day,
                        now,
                        pseudonym(self.core.nik_secret, message.sender),
                    ),
                }
            ),
        )
        claimed, read = _result_sets(cur)
        inbound = claimed[0]
        if inbound[0] is None:  # a provider retry: answer with what was stored
            _rollback(conn)
            return self._earlier_reply(conn, message)
        facts = facts_from_rows(read)
        limit = self.core.office_for(message.recipient).rules.messages_per_hour
        if over_hourly_limit(facts.recent_messages, limit) or stale_bookings(
            facts, self.core.calendar, now
        ):
            _rollback(conn)
            return None  # the full path says "too many", or closes the day-over booking
        params = {**base, "reply_to": inbound[0]}
        if request is None:
            answer = self._cek_or_batal(message.sender, facts, keyword == "BATAL")
        else:
            ask = Ask(Want.SEAT, request.phone, nik_hash, office, request.day, request.session, now)
            decision = decide(ask, facts, self.core.calendar)
            if isinstance(decision, Seat):
                return self._book(cur, message, request, decision, nik_hash, params)
            answer = self._daftar_answer(decision)
            params.update(_attempt_params(request, nik_hash))
        if answer is None:
            _rollback(conn)
            return None
        cur.execute(
            sql.ANSWER if answer.attempt is None else sql.ANSWER_WITH_ATTEMPT,
            {**params, "reply_body": redact(answer.text), "outcome": answer.attempt},
        )
        ((reply_id,),) = _result_sets(cur)[0]  # INSERT .. RETURNING: its one row
        return self._answered(message, keyword, inbound_body, answer.text, reply_id, answer.outcome)

    # -- what to answer ------------------------------------------------------------------

    def _cek_or_batal(self, phone: str, facts: Facts, cancel: bool) -> _Answer | None:
        """Return CEK's status of the booking held, or CEK's/BATAL's "nothing"; else None.

        BATAL of a booking changes it (and gives its seat away), and a place in line
        or a draw entry is described by the full path: those take the full path.
        """
        if any(e.pending and e.phone == phone for e in facts.entries):
            return None
        held = next((b for b in facts.bookings if b.phone == phone and b.status in HOLDING), None)
        if held is None:
            return _Answer(replies.refusal(NoActiveBooking(for_cancel=cancel)), None, "refused")
        if cancel:
            return None
        booking = held.as_booking()
        office = self.core.settings.office(booking.office_code) or self.core.settings.offices[0]
        return _Answer(replies.status(booking, office), None, "ok")

    # -- bookings ---------------------------------------------------------------------

    def _daftar_answer(self, decision: Decision) -> _Answer | None:
        """Return the answer to a DAFTAR the rules refused or granted before; None otherwise."""
        if isinstance(decision, Refuse):
            error = decision.error
            return _Answer(replies.refusal(error), type(error).__name__, "refused")
        if isinstance(decision, Repeat) and decision.booking is not None:
            booking = decision.booking.as_booking()
            office = self.core.settings.office(booking.office_code) or self.core.settings.offices[0]
            return _Answer(replies.booked(booking, office, again=True), "again", "ok")
        return None

    def _book(
        self,
        cur: psycopg.ClientCursor[Any],
        message: InboundMessage,
        request: BookingRequest,
        decision: Seat,
        nik_hash: str,
        params: dict[str, Any],
    ) -> Reply | None:
        """Take the first session the decision offers, durably (module docstring, step 3)."""
        spec = decision.sessions[0]
        if spec.quota < 1:
            # A session opened by staff override only: the full path's other claim.
            _rollback(cur.connection)
            return None
        params = {
            **params,
            **sql.TAKE_SEAT.constants,
            "office": request.office.code,
            "day": request.day,
            "session": spec.name,
            "quota": spec.quota,
            "code": new_booking_code(),
            "nik_hash": nik_hash,
            "nik_masked": request.nik.masked,
        }
        cur.execute(sql.TAKE, params)  # a booking is durable on acknowledgement
        taken, head = _result_sets(cur)
        if not taken:
            _rollback(cur.connection)
            return None  # the session filled or closed meanwhile: the full path decides again
        booked = taken[0]
        ((head_seq, head_hash),) = head  # the chain head row always exists
        booking = _new_booking(request, spec.name, booked[0], booked[1], params)
        reply_text = replies.booked(booking, request.office)
        record = new_record(
            head_hash,
            head_seq + 1,
            self.chain.clock(),
            "booking",
            f"booking:{booking.id}",
            self.chain.state("booking", booking),
        )
        cur.execute(sql.SEAL, {**params, **record, "reply_body": redact(reply_text)})
        ((reply_id,),) = _result_sets(cur)[0]  # INSERT .. RETURNING: its one row
        return self._answered(message, DAFTAR, params["inbound_body"], reply_text, reply_id, "ok")

    # -- shared -----------------------------------------------------------------------

    @staticmethod
    def _message_params(
        message: InboundMessage, inbound_body: str, now: datetime
    ) -> dict[str, Any]:
        status = SendStatus.SENT if message.reply_inline else SendStatus.PENDING
        return {
            "transport": message.transport,
            "external_id": message.external_id,
            "phone": message.sender,
            "gateway_number": message.recipient,
            "inbound_body": inbound_body,
            "now": now,
            "status": status.value,
        }

    @staticmethod
    def _answered(
        message: InboundMessage,
        keyword: str,
        inbound_body: str,
        reply_text: str,
        reply_id: int,
        outcome: Outcome,
    ) -> Reply:
        """Count and log an answer, as the full path does, and return it."""
        metrics.INBOUND.labels(message.transport, keyword, outcome).inc()
        _log_answer(message.transport, message.sender, inbound_body, reply_text)
        return Reply(
            reply_text,
            message_id=reply_id,
            needs_sending=not message.reply_inline,
            outcome=outcome,
        )

    def _request(
        self, message: InboundMessage, command: Command, now: datetime
    ) -> BookingRequest | None:
        """Return the booking request if the message is a well-formed first-come DAFTAR."""
        if not command.args:
            return None
        try:
            request = parse_request(
                self.core.settings,
                self.core.calendar,
                self.core.office_for(message.recipient),
                message.sender,
                now,
                command.args,
            )
        except DomainError:
            return None  # the full path explains what is wrong with it
        # A lottery office's days are entries (or first come after the draw): the full path.
        return None if request.office.allocation == "lottery" else request

    @staticmethod
    def _earlier_reply(conn: psycopg.Connection, message: InboundMessage) -> Reply:
        cur = psycopg.ClientCursor(conn)
        cur.execute(
            sql.EARLIER.execute,
            {"transport": message.transport, "external_id": message.external_id},
        )
        row = cur.fetchone()
        metrics.INBOUND.labels(message.transport, "retry", "duplicate").inc()
        if row is None or row[0] is None:
            return Reply("", duplicate=True, outcome="duplicate")
        return Reply(
            row[1],
            message_id=row[0],
            duplicate=True,
            needs_sending=row[2] != SendStatus.SENT.value,
            outcome="duplicate",
        )

    def _wrapped(self, exc: psycopg.Error, pooled: PoolProxiedConnection | None) -> Exception:
        """Return the error as SQLAlchemy would raise it, so callers handle it alike.

        A lost connection is dropped from the pool, and the pool is renewed: after
        a server restart every idle connection in it is dead too. The transports
        then answer 503 (Unavailable) and the provider delivers the message again.
        """
        lost = isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
        if lost and pooled is not None:
            pooled.invalidate(exc)
            self.engine.dispose(close=False)
        return DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost, dialect=self.engine.dialect
        )


def _attempt_params(request: BookingRequest, nik_hash: str) -> dict[str, Any]:
    """Return the attempt record's fields of a DAFTAR, as handlers/daftar.py records it."""
    return {
        "nik_hash": nik_hash,
        "nik_masked": request.nik.masked,
        "office": request.office.code,
    }


def _log_answer(transport: str, phone: str, inbound_body: str, reply_text: str) -> None:
    log.info("%s from %s: %r -> %r", transport, mask_phone(phone), inbound_body, reply_text)


def _result_sets(cur: psycopg.ClientCursor[Any]) -> list[list[tuple[Any, ...]]]:
    """Return the rows of every statement of the query just run that returns rows."""
    sets = []
    while True:
        # The result's status, not cur.description, which builds a column list each time.
        if cur.pgresult is not None and cur.pgresult.status == ExecStatus.TUPLES_OK:
            sets.append(cur.fetchall())
        if not cur.nextset():
            return sets


def _rollback(conn: psycopg.Connection) -> None:
    """End the lane's transaction without a trace (the connection is in autocommit)."""
    if conn.pgconn.transaction_status != TransactionStatus.IDLE:
        conn.execute("ROLLBACK")


def _new_booking(
    request: BookingRequest,
    session_name: str,
    booking_id: int,
    queue_seq: int,
    params: dict[str, Any],
) -> Booking:
    """Return the booking TAKE_SEAT wrote, as an object (never added to a session)."""
    return Booking(
        id=booking_id,
        office_code=request.office.code,
        booking_date=request.day,
        session_name=session_name,
        queue_seq=queue_seq,
        code=params["code"],
        phone=request.phone,
        nik_hash=params["nik_hash"],
        nik_masked=params["nik_masked"],
        status=BookingStatus.ACTIVE,
        created_at=params["now"],
        reschedules=0,
        late_cancel=False,
    )
