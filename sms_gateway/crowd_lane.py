"""The crowd lane: the flash crowd's commonest messages, answered in two statements.

When an office opens its quota, thousands of texts arrive within minutes and
nearly all of them are the same case: a DAFTAR from someone the gateway knows
nothing about, for a day whose seats are already gone. The full path
(``services/inbox.py``) answers that correctly, but spends a transaction, a
savepoint, identity locks and a dozen ORM statements finding it out. On
PostgreSQL this lane answers exactly that case with:

1. one SELECT that reads everything a rule could object to for this phone and
   NIK (a booking held or recent, no-shows, a block, a waitlist or lottery
   entry, the hourly message count), whether the office closed any day in the
   booking window, and the office's seat counters from the asked day on; then
2. when the applicant is unknown to every rule and the day has no free seat,
   the very refusal the full path gives (``SessionFull``, with the next day
   that has seats), written by one ``INSERT .. WITH`` statement that claims the
   provider's message id, records the booking attempt and logs the reply:
   atomically, in autocommit, so there is no BEGIN or COMMIT to wait for.

The same two steps answer the crowd's next commonest messages: CEK and BATAL
from a phone that holds no booking, no place in line and no draw entry ("no
booking to show / to cancel").

Anything else (a phone or NIK any rule knows, a free seat, a lottery office,
a closure, a malformed request, a phone near its hourly limit, any other
command, SQLite) makes ``answer`` return None before anything is written, and
the message takes the full path. The lane never writes a booking, a seat, a
queue number or a place in line, so the invariants stay where they are: in
the full path and in the database. A provider retry of a message the lane
answered gets the stored reply, read in one more statement.
``tests/test_crowd_lane.py`` holds the lane to the full path's replies and
rows, case by case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import psycopg
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from sms_gateway import metrics, replies
from sms_gateway.config import OfficeSpec, Settings
from sms_gateway.errors import DomainError, NoActiveBooking, SessionFull
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.models import (
    HOLDING,
    BlockKind,
    BookingStatus,
    Direction,
    EntryStatus,
    SendStatus,
    WaitStatus,
)
from sms_gateway.nik import mask_niks_in_text
from sms_gateway.parser import Command, parse
from sms_gateway.phones import mask_phone
from sms_gateway.router import Router
from sms_gateway.schedule import OfficeCalendar
from sms_gateway.services.booking import NIK_WINDOW_DAYS, BookingRequest

log = logging.getLogger(__name__)

LANE_APPLICATION_NAME = "sms-gateway crowd lane"

# The commands the lane answers, by their routes' keywords (as the metrics label them).
DAFTAR = "DAFTAR"
NOTHING_HELD = ("CEK", "BATAL")  # from a phone that holds no booking, place or entry

# FACTS binds the "holding" statuses one by one: they must be exactly the model's.
if {BookingStatus.ACTIVE, BookingStatus.CHECKED_IN, BookingStatus.CALLED} != set(HOLDING):
    raise RuntimeError("crowd_lane.FACTS must list every status in models.HOLDING")

# The statements are psycopg's own (%(name)s parameters), run on the driver's
# connection: on a two-statement path, SQLAlchemy's per-statement work (result
# metadata, type processing) was about a quarter of the lane's CPU time.

# Everything the rules could object to, and the seat counters, in one round trip.
# Each EXISTS mirrors one check of BookingService.book (see the module docstring);
# they only need to say "something is there": the full path then says what.
#
# Statuses and the direction are bound, not inlined. psycopg prepares a statement
# it runs often, and PostgreSQL then keeps one generic plan per connection, made
# from the statistics of that moment. With ``direction = 'in'`` inlined, a plan
# made while the table was nearly empty counted an applicant's messages by reading
# the whole partial index one_message_per_provider_id (its predicate matched), a
# full scan that grew with every message: 6.6 ms a call after 20,000 messages.
FACTS = """
    SELECT
      (SELECT count(*) FROM messages
        WHERE phone = %(phone)s AND created_at > %(hour_ago)s
          AND direction = %(inbound)s) AS recent,
      EXISTS (SELECT 1 FROM bookings
        WHERE (phone = %(phone)s OR nik_hash = %(nik_hash)s)
          AND (status IN (%(active)s, %(checked_in)s, %(called)s)
               OR ((status = %(no_show)s OR late_cancel) AND booking_date >= %(missed_since)s)
               OR created_at >= %(niks_since)s)) AS known,
      EXISTS (SELECT 1 FROM blocks
        WHERE ((kind = %(phone_kind)s AND value = %(phone)s)
               OR (kind = %(nik_kind)s AND value = %(nik_hash)s))
          AND lifted_at IS NULL AND until >= %(today)s) AS blocked,
      EXISTS (SELECT 1 FROM waitlist
        WHERE status = %(waiting)s AND (phone = %(phone)s OR nik_hash = %(nik_hash)s)) AS waiting,
      EXISTS (SELECT 1 FROM lottery_entries
        WHERE status = %(entered)s AND (phone = %(phone)s OR nik_hash = %(nik_hash)s)) AS entered,
      EXISTS (SELECT 1 FROM office_closures
        WHERE office_code = %(office)s AND day >= %(today)s AND day <= %(horizon)s) AS closed,
      slot.slot_date, slot.session_name, slot.booked, slot.quota_override
    FROM (SELECT 1 AS one) AS facts
    LEFT JOIN session_slots AS slot
      ON slot.office_code = %(office)s
         AND slot.slot_date >= %(day)s AND slot.slot_date <= %(horizon)s
"""
_FACTS_CONSTANTS = {
    "inbound": Direction.IN.value,
    "active": BookingStatus.ACTIVE.value,
    "checked_in": BookingStatus.CHECKED_IN.value,
    "called": BookingStatus.CALLED.value,
    "no_show": BookingStatus.NO_SHOW.value,
    "phone_kind": BlockKind.PHONE.value,
    "nik_kind": BlockKind.NIK.value,
    "waiting": WaitStatus.WAITING.value,
    "entered": EntryStatus.ENTERED.value,
}


def _write(*, with_attempt: bool) -> str:
    """Return the statement that logs a lane answer: inbound row, attempt (DAFTAR), reply.

    The inbound row claims the provider id: a retry conflicts and writes nothing.
    One atomic statement. The ON CONFLICT target names the partial unique index
    one_message_per_provider_id, predicate spelled out as PostgreSQL needs to see it.
    """
    attempt = (
        """, attempt AS (
      INSERT INTO booking_attempts (at, phone, nik_hash, nik_masked, office_code, outcome)
      SELECT %(now)s, %(phone)s, %(nik_hash)s, %(nik_masked)s, %(office)s, %(outcome)s
      FROM inbound
    )"""
        if with_attempt
        else ""
    )
    return f"""
    WITH inbound AS (
      INSERT INTO messages
        (direction, transport, external_id, phone, gateway_number, body, created_at, attempts)
      VALUES ('{Direction.IN.value}', %(transport)s, %(external_id)s, %(phone)s,
              %(gateway_number)s, %(inbound_body)s, %(now)s, 0)
      ON CONFLICT (transport, external_id) WHERE direction = '{Direction.IN.value}' DO NOTHING
      RETURNING id
    ){attempt}, reply AS (
      INSERT INTO messages
        (direction, transport, phone, gateway_number, body, reply_to_id, created_at,
         status, attempts)
      SELECT '{Direction.OUT.value}', %(transport)s, %(phone)s, %(gateway_number)s,
             %(reply_body)s, inbound.id, %(now)s, %(status)s, 0
      FROM inbound
      RETURNING id
    )
    SELECT reply.id FROM reply
"""


WRITE_WITH_ATTEMPT = _write(with_attempt=True)  # DAFTAR: the fraud report reads attempts
WRITE = _write(with_attempt=False)

# CEK and BATAL from a phone that holds nothing: what CEK and BATAL would look for
# (a booking, a place in line, a draw entry), and the hourly message count.
PHONE_FACTS = """
    SELECT
      (SELECT count(*) FROM messages
        WHERE phone = %(phone)s AND created_at > %(hour_ago)s
          AND direction = %(inbound)s) AS recent,
      EXISTS (SELECT 1 FROM bookings
        WHERE phone = %(phone)s AND status IN (%(active)s, %(checked_in)s, %(called)s))
      OR EXISTS (SELECT 1 FROM waitlist WHERE phone = %(phone)s AND status = %(waiting)s)
      OR EXISTS (SELECT 1 FROM lottery_entries
        WHERE phone = %(phone)s AND status = %(entered)s) AS holds
"""

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


@dataclass(frozen=True)
class _Facts:
    """What FACTS found: objections, and seats by (day, session) as (booked, override)."""

    recent: int
    objection: bool  # a booking, block, entry or closure: the full path must answer
    seats: dict[tuple[date, str], tuple[int, int | None]]


ParseRequest = Callable[
    [Settings, OfficeCalendar, OfficeSpec, str, datetime, tuple[str, ...]], BookingRequest
]


def create_lane_engine(url: str) -> Engine:
    """Return the lane's own pool: autocommit, so each statement is its own transaction.

    No pre-ping (the main engine pings every checkout; here it would add a round
    trip to a two-statement path): a connection that died with the server fails
    its statement, the request gets a 503 that the provider retries, and the
    lane renews the pool.

    ``synchronous_commit = off`` for these connections only: the lane writes
    nothing but the log of a refusal (the message, the attempt, the reply), never
    a booking, so it need not wait for the WAL to reach the disk. A server crash
    may lose the last fraction of a second of such log rows (PostgreSQL's
    guarantee: lost, never inconsistent); every booking, which the full path
    writes, is still acknowledged only once it is durable.
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
    """Answer a clean applicant's DAFTAR for a full day (or CEK/BATAL of nothing), or decline."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        calendar: OfficeCalendar,
        router: Router,
        nik_secret: bytes,
        office_for: Callable[[str | None], OfficeSpec],
        parse_request: ParseRequest,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.calendar = calendar
        self.router = router
        self.nik_secret = nik_secret
        self.office_for = office_for
        self.parse_request = parse_request
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
        elif keyword in NOTHING_HELD:
            request = None
        else:
            return None
        pooled = self.engine.raw_connection()
        try:
            conn: psycopg.Connection = pooled.driver_connection  # type: ignore[assignment]
            # The hourly limit is the receiving number's office's, as in the full path.
            limit = self.office_for(message.recipient).rules.messages_per_hour
            if request is not None:
                decided = self._daftar(conn, request, limit, now)
            else:
                decided = self._nothing_held(conn, message, keyword == "BATAL", limit, now)
            if decided is None:
                return None
            refusal, attempt = decided
            reply_text = replies.refusal(refusal)
            status = SendStatus.SENT if message.reply_inline else SendStatus.PENDING
            inbound_body = mask_niks_in_text(message.text)
            written = conn.execute(
                WRITE if attempt is None else WRITE_WITH_ATTEMPT,
                {
                    **(attempt or {}),
                    "transport": message.transport,
                    "external_id": message.external_id,
                    "phone": message.sender,
                    "gateway_number": message.recipient,
                    "inbound_body": inbound_body,
                    "now": now,
                    "reply_body": reply_text,
                    "status": status.value,
                },
            ).fetchone()
            if written is None:  # a provider retry: answer with what was stored
                return self._earlier_reply(conn, message)
            reply_id = written[0]
        except psycopg.Error as exc:
            raise self._wrapped(exc, pooled) from None
        finally:
            pooled.close()  # back to the pool (or gone, if invalidated)
        metrics.INBOUND.labels(message.transport, keyword, "refused").inc()
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
            outcome="refused",
        )

    def _daftar(
        self, conn: psycopg.Connection, request: BookingRequest, limit: int, now: datetime
    ) -> tuple[SessionFull, dict[str, str]] | None:
        """Return the full-day refusal and its attempt row, or None if a rule may object."""
        office = request.office
        today = self.calendar.today(office, now)
        horizon = today + timedelta(days=self.settings.booking.max_days_ahead)
        nik_hash = request.nik.keyed_hash(self.nik_secret)
        facts = self._facts(conn, request, nik_hash, today, horizon, now)
        if facts.objection or facts.recent + 1 > limit:
            return None
        refusal = self._refusal(request, today, facts)
        if refusal is None:
            return None
        attempt = {
            "nik_hash": nik_hash,
            "nik_masked": request.nik.masked,
            "office": office.code,
            "outcome": type(refusal).__name__,
        }
        return refusal, attempt

    def _nothing_held(
        self,
        conn: psycopg.Connection,
        message: InboundMessage,
        cancel: bool,
        limit: int,
        now: datetime,
    ) -> tuple[NoActiveBooking, None] | None:
        """Return CEK's or BATAL's "nothing to show/cancel", or None if the phone holds any."""
        recent, holds = conn.execute(
            PHONE_FACTS,
            {**_FACTS_CONSTANTS, "phone": message.sender, "hour_ago": now - timedelta(hours=1)},
        ).fetchone()  # type: ignore[misc]
        if holds or recent + 1 > limit:
            return None
        return NoActiveBooking(for_cancel=cancel), None

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

    def _facts(
        self,
        conn: psycopg.Connection,
        request: BookingRequest,
        nik_hash: str,
        today: date,
        horizon: date,
        now: datetime,
    ) -> _Facts:
        rules = request.office.rules
        rows = conn.execute(
            FACTS,
            {
                **_FACTS_CONSTANTS,
                "phone": request.phone,
                "nik_hash": nik_hash,
                "office": request.office.code,
                "hour_ago": now - timedelta(hours=1),
                "missed_since": today - timedelta(days=rules.penalty_window_days),
                "niks_since": now - timedelta(days=NIK_WINDOW_DAYS),
                "today": today,
                "horizon": horizon,
                "day": request.day,
            },
        ).fetchall()
        recent, known, blocked, waiting, entered, closed = rows[0][:6]
        seats = {(r[6], r[7]): (r[8], r[9]) for r in rows if r[6] is not None}
        objection = known or blocked or waiting or entered or closed
        return _Facts(recent, bool(objection), seats)

    def _refusal(self, request: BookingRequest, today: date, facts: _Facts) -> SessionFull | None:
        """Return the full path's refusal when no session of the day has a seat; else None."""
        office = request.office

        def free(day: date) -> bool:
            for spec in office.sessions:
                booked, override = facts.seats.get((day, spec.name), (0, None))
                if spec.quota_with(override) - booked > 0:
                    return True
            return False

        if free(request.day):
            return None  # a seat to take, or another session to offer: the full path
        later = (d for d in self.calendar.bookable_days(office, today) if d > request.day)
        next_day = next((d for d in later if free(d)), None)
        return SessionFull(office, request.day, request.session, None, next_day)

    @staticmethod
    def _earlier_reply(conn: psycopg.Connection, message: InboundMessage) -> Reply:
        row = conn.execute(
            EARLIER_REPLY,
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

    def _wrapped(self, exc: psycopg.Error, pooled: PoolProxiedConnection) -> Exception:
        """Return the error as SQLAlchemy would raise it, so callers handle it alike.

        A lost connection is dropped from the pool, and the pool is renewed: after
        a server restart every idle connection in it is dead too. The transports
        then answer 503 (Unavailable) and the provider delivers the message again.
        """
        lost = isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
        if lost:
            pooled.invalidate(exc)
            self.engine.dispose(close=False)
        return DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost, dialect=self.engine.dialect
        )
