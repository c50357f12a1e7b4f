"""The crowd lane: the flash crowd's commonest messages, in two or three round trips.

When an office opens its quota, thousands of texts arrive within minutes and
nearly all of them are one case: a DAFTAR from someone the gateway knows
nothing about, for a day whose seats are already gone; in the first seconds,
the same DAFTAR for a day that still has seats. The full path
(``services/inbox.py``) answers both correctly, but spends a transaction, a
savepoint, identity locks and some twenty ORM statements finding it out, and
while it books, every other booking of the day queues behind it on the day's
seat counter. On PostgreSQL this lane answers exactly these cases:

1. One SELECT (``FACTS``) reads everything a rule could object to for this
   phone and NIK (a booking held or recent, no-shows, a block, a waitlist or
   lottery entry, the hourly message count), whether the office closed any day
   in the booking window, and the office's seat counters from the asked day on.
2. When the applicant is unknown to every rule and the day has no free seat:
   the very refusal the full path gives (``SessionFull``, with the next day
   that has seats), written by one ``INSERT .. WITH`` statement that claims the
   provider's message id, records the booking attempt and logs the reply:
   atomically, in autocommit, so there is no BEGIN or COMMIT to wait for.
3. When the session it would book has a free seat: the booking, in one durable
   transaction of three pipelined round trips (each pipeline sends its
   statements together and waits once):

   a. BEGIN; claim the provider id (first, as on the full path); take the
      phone's and the NIK's advisory locks (the full path's locks, in its
      order); read FACTS again, now that no other request about this phone or
      NIK can change them;
   b. take the seat and number it (the full path's conditional claim and
      counter), record the booking and the attempt, in one statement that
      writes nothing if the session filled meanwhile; lock the audit chain's
      head;
   c. append the booking's record to the chain, log the reply, COMMIT.

   The day's seat counter is held from (b) to the commit, not through a dozen
   ORM statements.

The same two steps answer the crowd's next commonest messages, each with the
full path's reply:

- a DAFTAR for a NIK that holds a booking made from another phone, from a
  phone no rule knows (``NikHasBooking``: the first rule book() would break);
- CEK from a phone that holds a booking (its status), and CEK and BATAL from a
  phone that holds no booking, no place in line and no draw entry ("no
  booking to show / to cancel").

Anything else (a phone any rule knows, a NIK known otherwise, a lottery
office, a closure, a malformed request, a phone near its hourly limit, a
session asked for by name that is full while another is not, BATAL of a
booking, a booking whose day is over, any other command, SQLite) makes
``answer`` return None before anything is written, and the message takes the
full path. So does a booking whose facts changed before its locks, whose
session filled meanwhile, or that a unique index or a deadlock refused: its
transaction rolls back, and the full path answers (and retries) as always.
The invariants stay in the database: the same conditional claim, the same
unique indexes, the same locks as on the full path. A provider retry of a
message the lane answered gets the stored reply, read in one more statement.
``tests/test_crowd_lane.py`` holds the lane to the full path's replies and
rows, case by case. A new rule in ``BookingService.book`` must become an
objection in ``crowd_lane_sql.FACTS`` (and a case in the test's DECLINED
table), or the lane would answer past it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from sms_gateway import crowd_lane_sql as sql
from sms_gateway import metrics, replies
from sms_gateway.config import OfficeSpec, SessionSpec, Settings
from sms_gateway.errors import DomainError, NikHasBooking, NoActiveBooking, SessionFull
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.models import Booking, BookingStatus, SendStatus
from sms_gateway.nik import mask_niks_in_text
from sms_gateway.parser import Command, parse
from sms_gateway.phones import mask_phone
from sms_gateway.router import Router
from sms_gateway.schedule import OfficeCalendar
from sms_gateway.services.booking import (
    NIK_WINDOW_DAYS,
    BookingRequest,
    identity_lock_keys,
    new_booking_code,
)
from sms_gateway.services.chain import AuditChain, new_record

log = logging.getLogger(__name__)

LANE_APPLICATION_NAME = "sms-gateway crowd lane"

# The commands the lane answers, by their routes' keywords (as the metrics label them).
DAFTAR = "DAFTAR"
CEK_OR_BATAL = ("CEK", "BATAL")  # of nothing; CEK of a booking too

# A booking that loses one of these leaves the message to the full path, which
# retries it and then sees the winner (services/inbox.py does the same).
_LOST_RACE = (
    psycopg.IntegrityError,
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)


@dataclass(frozen=True)
class _Facts:
    """What FACTS found: objections, and seats by (day, session) as (booked, override)."""

    recent: int
    objection: bool  # a booking, block, entry or closure: the full path must answer
    seats: dict[tuple[date, str], tuple[int, int | None]]
    # For "this NIK already holds a booking from another phone" (NikHasBooking):
    theirs: tuple[str, date] | None  # the office and day of the booking the NIK holds
    phone_known: bool  # the phone holds or recently made a booking, or either has no-shows
    blocked_or_closed: bool

    def free(self, day: date, spec: SessionSpec) -> bool:
        """Return True when the session had a free seat on ``day``."""
        booked, override = self.seats.get((day, spec.name), (0, None))
        return spec.quota_with(override) - booked > 0


@dataclass(frozen=True)
class _Answer:
    """An answer that changes nothing but the message log (and the attempts, for DAFTAR)."""

    text: str
    attempt: dict[str, str] | None  # the booking_attempts row of a DAFTAR
    outcome: str  # as the metrics count it: "ok" or "refused"


@dataclass(frozen=True)
class _Seat:
    """A free seat FACTS showed a clean applicant: what the booking needs."""

    request: BookingRequest
    spec: SessionSpec
    nik_hash: str
    facts_params: Mapping[str, object]  # to read FACTS again under the locks


ParseRequest = Callable[
    [Settings, OfficeCalendar, OfficeSpec, str, datetime, tuple[str, ...]], BookingRequest
]


def create_lane_engine(url: str) -> Engine:
    """Return the lane's own pool: autocommit, so each statement is its own transaction.

    No pre-ping (the main engine pings every checkout; here it would add a round
    trip to a two-statement path): a connection that died with the server fails
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
    def _no_wal_wait(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Per connection, not in the URL's options, which may already set search_path.
        dbapi_conn.execute("SET synchronous_commit = off")
        dbapi_conn.commit()

    return engine


class CrowdLane:
    """Answer the crowd's commonest DAFTAR, CEK and BATAL as the full path would; or decline."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        calendar: OfficeCalendar,
        router: Router,
        nik_secret: bytes,
        office_for: Callable[[str | None], OfficeSpec],
        parse_request: ParseRequest,
        chain: AuditChain,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.calendar = calendar
        self.router = router
        self.nik_secret = nik_secret
        self.office_for = office_for
        self.parse_request = parse_request
        self.chain = chain
        # The words (keyword and aliases) of each command the lane may answer.
        self._keyword = {word: route.keyword for route in router.routes for word in route.words}

    def answer(self, message: InboundMessage, now: datetime) -> Reply | None:
        """Return the reply if the lane may answer ``message``; None to take the full path."""
        command = parse(message.text)
        keyword = self._keyword.get(command.word)
        if keyword == DAFTAR:
            request = self._request(message, command, now)
            if request is None:
                return None
        elif keyword in CEK_OR_BATAL:
            request = None
        else:
            return None
        try:
            pooled = self.engine.raw_connection()
        except psycopg.Error as exc:  # the server is down: the pool's error is the driver's
            raise self._wrapped(exc, None) from None
        try:
            conn: psycopg.Connection = pooled.driver_connection  # type: ignore[assignment]
            # The hourly limit is the receiving number's office's, as in the full path.
            limit = self.office_for(message.recipient).rules.messages_per_hour
            if request is not None:
                decided = self._daftar(conn, request, limit, now)
                if isinstance(decided, _Seat):
                    return self._book(conn, message, decided, limit, now)
            else:
                decided = self._cek_or_batal(conn, message, keyword == "BATAL", limit, now)
            if decided is None:
                return None
            return self._write_answer(conn, message, keyword, decided, now)
        except psycopg.Error as exc:
            raise self._wrapped(exc, pooled) from None
        finally:
            pooled.close()  # back to the pool (or gone, if invalidated)

    # -- answers that change nothing --------------------------------------------------

    def _write_answer(
        self,
        conn: psycopg.Connection,
        message: InboundMessage,
        keyword: str,
        answer: _Answer,
        now: datetime,
    ) -> Reply:
        """Log the message, its attempt (DAFTAR) and the answer in one statement."""
        inbound_body = mask_niks_in_text(message.text)
        written = conn.execute(
            sql.WRITE if answer.attempt is None else sql.WRITE_WITH_ATTEMPT,
            {
                **(answer.attempt or {}),
                **self._message_params(message, inbound_body, now),
                "reply_body": answer.text,
            },
        ).fetchone()
        if written is None:  # a provider retry: answer with what was stored
            return self._earlier_reply(conn, message)
        return self._answered(
            message, keyword, inbound_body, answer.text, written[0], answer.outcome
        )

    def _daftar(
        self, conn: psycopg.Connection, request: BookingRequest, limit: int, now: datetime
    ) -> _Answer | _Seat | None:
        """Return the refusal (full day, NIK taken), the seat to book, or None."""
        office = request.office
        today = self.calendar.today(office, now)
        horizon = today + timedelta(days=self.settings.booking.max_days_ahead)
        nik_hash = request.nik.keyed_hash(self.nik_secret)
        params = self._facts_params(request, nik_hash, today, horizon, now)
        facts = _read_facts(conn.execute(sql.FACTS, params).fetchall())
        if facts.recent + 1 > limit:
            return None
        if facts.objection:
            return self._nik_taken(request, nik_hash, facts, now)
        wanted = [request.session] if request.session else office.sessions
        spec = next((s for s in wanted if facts.free(request.day, s)), None)
        if spec is not None:
            # A session whose quota is 0 opens by staff override only (BookingService.claim).
            return _Seat(request, spec, nik_hash, params) if spec.quota >= 1 else None
        if any(facts.free(request.day, s) for s in office.sessions):
            return None  # another session to offer: the full path says which
        later = (d for d in self.calendar.bookable_days(office, today) if d > request.day)
        next_day = next((d for d in later if any(facts.free(d, s) for s in office.sessions)), None)
        return _refused(
            SessionFull(office, request.day, request.session, None, next_day), request, nik_hash
        )

    def _nik_taken(
        self, request: BookingRequest, nik_hash: str, facts: _Facts, now: datetime
    ) -> _Answer | None:
        """Return NikHasBooking when that is the first rule BookingService.book would break.

        Before it, book() refuses a phone holding a booking, a block and a penalty
        (no-shows): the phone must be unknown, no-show free and not blocked. The
        booking the NIK holds counts only while its day is not over (book() closes
        it lazily otherwise), by the clock of its own office.
        """
        if facts.theirs is None or facts.phone_known or facts.blocked_or_closed:
            return None
        their_office, their_day = facts.theirs
        office = self.settings.office(their_office) or self.settings.offices[0]
        if their_day < self.calendar.today(office, now):
            return None
        theirs = Booking(office_code=their_office, booking_date=their_day)
        return _refused(NikHasBooking(theirs), request, nik_hash)

    def _cek_or_batal(
        self,
        conn: psycopg.Connection,
        message: InboundMessage,
        cancel: bool,
        limit: int,
        now: datetime,
    ) -> _Answer | None:
        """Return CEK's status of the booking held, or CEK's/BATAL's "nothing"; else None.

        BATAL of a booking changes it (and gives its seat away), and a place in line
        or a draw entry is described by the full path: those take the full path.
        """
        row = conn.execute(
            sql.PHONE_FACTS,
            {**sql.FACTS_CONSTANTS, "phone": message.sender, "hour_ago": now - timedelta(hours=1)},
        ).fetchone()
        recent, waits, office_code, day, session_name, queue_seq, code = row  # type: ignore[misc]
        if waits or recent + 1 > limit:
            return None
        if office_code is None:
            return _Answer(replies.refusal(NoActiveBooking(for_cancel=cancel)), None, "refused")
        office = self.settings.office(office_code) or self.settings.offices[0]
        if cancel or day < self.calendar.today(office, now):
            return None  # a cancellation, or a day over that CEK closes lazily
        booking = Booking(
            office_code=office_code,
            booking_date=day,
            session_name=session_name,
            queue_seq=queue_seq,
            code=code,
        )
        return _Answer(replies.status(booking, office), None, "ok")

    # -- bookings ---------------------------------------------------------------------

    def _book(
        self,
        conn: psycopg.Connection,
        message: InboundMessage,
        seat: _Seat,
        limit: int,
        now: datetime,
    ) -> Reply | None:
        """Book the seat in one durable transaction (module docstring, step 3), or decline."""
        request, spec = seat.request, seat.spec
        inbound_body = mask_niks_in_text(message.text)
        params = {
            **self._message_params(message, inbound_body, now),
            "office": request.office.code,
            "day": request.day,
            "session": spec.name,
            "quota": spec.quota,
            "code": new_booking_code(),
            "nik_hash": seat.nik_hash,
            "nik_masked": request.nik.masked,
        }
        keys = identity_lock_keys(request.phone, seat.nik_hash)
        locks = {f"k{i}": key for i, key in enumerate(keys)}
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                conn.execute("SET LOCAL synchronous_commit = on")  # a booking is durable on ack
                claimed = conn.execute(sql.CLAIM_INBOUND, params)
                conn.execute(sql.lock_identities(len(keys)), locks)
                again = conn.execute(sql.FACTS, seat.facts_params)
            inbound = claimed.fetchone()
            if inbound is None:  # a provider retry: answer with what was stored
                _rollback(conn)
                return self._earlier_reply(conn, message)
            # This message now counts towards the hourly limit itself.
            facts = _read_facts(again.fetchall())
            if facts.objection or facts.recent > limit or not facts.free(request.day, spec):
                _rollback(conn)
                return None  # something changed before the locks: the full path answers
            with conn.pipeline():
                taken = conn.execute(sql.TAKE_SEAT, params)
                head = conn.execute(sql.LOCK_CHAIN_HEAD)
            booked = taken.fetchone()
            if booked is None:
                _rollback(conn)
                return None  # the session filled meanwhile: the full path refuses
            head_seq, head_hash = head.fetchone()  # type: ignore[misc]
            booking = _new_booking(request, spec, booked[0], booked[1], params, now)
            reply_text = replies.booked(booking, request.office)
            record = new_record(
                head_hash,
                head_seq + 1,
                self.chain.clock(),
                "booking",
                f"booking:{booking.id}",
                self.chain.state("booking", booking),
            )
            with conn.pipeline():
                reply = conn.execute(
                    sql.SEAL_AND_REPLY,
                    {**params, **record, "reply_body": reply_text, "reply_to": inbound[0]},
                )
                conn.execute("COMMIT")
            reply_id = reply.fetchone()[0]  # type: ignore[index]
        except _LOST_RACE as exc:
            _rollback(conn)
            log.info("the lane lost a race (%s); the full path answers", type(exc).__name__)
            return None
        except psycopg.Error:
            if not conn.broken:
                _rollback(conn)
            raise
        return self._answered(message, DAFTAR, inbound_body, reply_text, reply_id, "ok")

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
        outcome: str,
    ) -> Reply:
        """Count and log an answer, as the full path does, and return it."""
        metrics.INBOUND.labels(message.transport, keyword, outcome).inc()
        log.info(
            "%s from %s: %r -> %r",
            message.transport,
            mask_phone(message.sender),
            inbound_body,
            reply_text,
        )
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
            request = self.parse_request(
                self.settings,
                self.calendar,
                self.office_for(message.recipient),
                message.sender,
                now,
                command.args,
            )
        except DomainError:
            return None  # the full path explains what is wrong with it
        office = request.office
        if office.allocation != "first_come" or office.rules.niks_per_phone < 1:
            return None
        try:
            self.calendar.check_bookable(office, request.day, self.calendar.today(office, now))
        except DomainError:
            return None
        return request

    @staticmethod
    def _facts_params(
        request: BookingRequest, nik_hash: str, today: date, horizon: date, now: datetime
    ) -> dict[str, object]:
        rules = request.office.rules
        return {
            **sql.FACTS_CONSTANTS,
            "phone": request.phone,
            "nik_hash": nik_hash,
            "office": request.office.code,
            "hour_ago": now - timedelta(hours=1),
            "missed_since": today - timedelta(days=rules.penalty_window_days),
            "niks_since": now - timedelta(days=NIK_WINDOW_DAYS),
            "today": today,
            "horizon": horizon,
            "day": request.day,
        }

    @staticmethod
    def _earlier_reply(conn: psycopg.Connection, message: InboundMessage) -> Reply:
        row = conn.execute(
            sql.EARLIER_REPLY,
            {"transport": message.transport, "external_id": message.external_id},
        ).fetchone()
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


def _read_facts(rows: list[tuple[Any, ...]]) -> _Facts:
    recent, known, blocked, waiting, entered, closed, phone_known, their_office, their_day = rows[
        0
    ][:9]
    seats = {(r[9], r[10]): (r[11], r[12]) for r in rows if r[9] is not None}
    objection = known or blocked or waiting or entered or closed
    return _Facts(
        recent,
        bool(objection),
        seats,
        theirs=None if their_office is None else (their_office, their_day),
        phone_known=bool(phone_known),
        blocked_or_closed=bool(blocked or closed),
    )


def _refused(refusal: DomainError, request: BookingRequest, nik_hash: str) -> _Answer:
    """Return a DAFTAR refusal with its attempt row, as handlers/daftar.py records it."""
    attempt = {
        "nik_hash": nik_hash,
        "nik_masked": request.nik.masked,
        "office": request.office.code,
        "outcome": type(refusal).__name__,
    }
    return _Answer(replies.refusal(refusal), attempt, "refused")


def _rollback(conn: psycopg.Connection) -> None:
    """End the booking's transaction without a trace (the connection is in autocommit)."""
    if conn.pgconn.transaction_status != TransactionStatus.IDLE:
        conn.execute("ROLLBACK")


def _new_booking(
    request: BookingRequest,
    spec: SessionSpec,
    booking_id: int,
    queue_seq: int,
    params: Mapping[str, Any],
    now: datetime,
) -> Booking:
    """Return the booking TAKE_SEAT wrote, as an object (never added to a session)."""
    return Booking(
        id=booking_id,
        office_code=request.office.code,
        booking_date=request.day,
        session_name=spec.name,
        queue_seq=queue_seq,
        code=params["code"],
        phone=request.phone,
        nik_hash=params["nik_hash"],
        nik_masked=params["nik_masked"],
        status=BookingStatus.ACTIVE,
        created_at=now,
        reschedules=0,
        late_cancel=False,
    )
