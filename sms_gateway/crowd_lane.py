"""The crowd lane: the flash crowd's commonest message, answered in two statements.

When an office opens its quota, thousands of texts arrive within minutes and
nearly all of them are the same case: a DAFTAR from someone the gateway knows
nothing about, for a day whose seats are already gone. The full path
(``services/inbox.py``) answers that correctly, but spends a transaction, a
savepoint, identity locks and a dozen ORM statements finding it out. On
PostgreSQL this lane answers exactly that case, and nothing else, with:

1. one SELECT that reads everything a rule could object to for this phone and
   NIK (a booking held or recent, no-shows, a block, a waitlist or lottery
   entry, the hourly message count), whether the office closed any day in the
   booking window, and the office's seat counters from the asked day on; then
2. when the applicant is unknown to every rule and the day has no free seat,
   the very refusal the full path gives (``SessionFull``, with the next day
   that has seats), written by one ``INSERT .. WITH`` statement that claims the
   provider's message id, records the booking attempt and logs the reply:
   atomically, in autocommit, so there is no BEGIN or COMMIT to wait for.

Anything else (a phone or NIK any rule knows, a free seat, a lottery office,
a closure, a malformed request, a phone near its hourly limit, SQLite) makes
``answer`` return None before anything is written, and the message takes the
full path. The lane never writes a booking, a seat or a queue number, so the
invariants stay where they are: in the full path and in the database. A
provider retry of a message the lane answered gets the stored reply, read in
one more statement. ``tests/test_crowd_lane.py`` holds the lane to the full
path's replies and rows, case by case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, bindparam, create_engine, text
from sqlalchemy.types import Boolean, Date, Integer, String

from sms_gateway import metrics, replies
from sms_gateway.config import OfficeSpec, Settings
from sms_gateway.errors import DomainError, SessionFull
from sms_gateway.messages import InboundMessage, Reply
from sms_gateway.models import (
    HOLDING,
    BlockKind,
    BookingStatus,
    Direction,
    EntryStatus,
    SendStatus,
    UTCDateTime,
    WaitStatus,
)
from sms_gateway.nik import mask_niks_in_text
from sms_gateway.parser import parse
from sms_gateway.phones import mask_phone
from sms_gateway.router import Router
from sms_gateway.schedule import OfficeCalendar
from sms_gateway.services.booking import NIK_WINDOW_DAYS, BookingRequest

log = logging.getLogger(__name__)

# The DAFTAR route's keyword, as the metrics label it.
DAFTAR = "DAFTAR"

# FACTS binds the "holding" statuses one by one: they must be exactly the model's.
if {BookingStatus.ACTIVE, BookingStatus.CHECKED_IN, BookingStatus.CALLED} != set(HOLDING):
    raise RuntimeError("crowd_lane.FACTS must list every status in models.HOLDING")

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
FACTS = (
    text(
        """
    SELECT
      (SELECT count(*) FROM messages
        WHERE phone = :phone AND created_at > :hour_ago AND direction = :inbound) AS recent,
      EXISTS (SELECT 1 FROM bookings
        WHERE (phone = :phone OR nik_hash = :nik_hash)
          AND (status IN (:active, :checked_in, :called)
               OR ((status = :no_show OR late_cancel) AND booking_date >= :missed_since)
               OR created_at >= :niks_since)) AS known,
      EXISTS (SELECT 1 FROM blocks
        WHERE ((kind = :phone_kind AND value = :phone) OR (kind = :nik_kind AND value = :nik_hash))
          AND lifted_at IS NULL AND until >= :today) AS blocked,
      EXISTS (SELECT 1 FROM waitlist
        WHERE status = :waiting AND (phone = :phone OR nik_hash = :nik_hash)) AS waiting,
      EXISTS (SELECT 1 FROM lottery_entries
        WHERE status = :entered AND (phone = :phone OR nik_hash = :nik_hash)) AS entered,
      EXISTS (SELECT 1 FROM office_closures
        WHERE office_code = :office AND day >= :today AND day <= :horizon) AS closed,
      slot.slot_date, slot.session_name, slot.booked, slot.quota_override
    FROM (SELECT 1 AS one) AS facts
    LEFT JOIN session_slots AS slot
      ON slot.office_code = :office AND slot.slot_date >= :day AND slot.slot_date <= :horizon
    """
    )
    .bindparams(
        bindparam("hour_ago", type_=UTCDateTime()),
        bindparam("niks_since", type_=UTCDateTime()),
        bindparam("missed_since", type_=Date()),
        bindparam("today", type_=Date()),
        bindparam("horizon", type_=Date()),
        bindparam("day", type_=Date()),
        bindparam("inbound", value=Direction.IN.value),
        bindparam("active", value=BookingStatus.ACTIVE.value),
        bindparam("checked_in", value=BookingStatus.CHECKED_IN.value),
        bindparam("called", value=BookingStatus.CALLED.value),
        bindparam("no_show", value=BookingStatus.NO_SHOW.value),
        bindparam("phone_kind", value=BlockKind.PHONE.value),
        bindparam("nik_kind", value=BlockKind.NIK.value),
        bindparam("waiting", value=WaitStatus.WAITING.value),
        bindparam("entered", value=EntryStatus.ENTERED.value),
    )
    .columns(
        recent=Integer(),
        known=Boolean(),
        blocked=Boolean(),
        waiting=Boolean(),
        entered=Boolean(),
        closed=Boolean(),
        slot_date=Date(),
        session_name=String(),
        booked=Integer(),
        quota_override=Integer(),
    )
)

# The inbound row (claiming the provider id: a retry conflicts and writes nothing),
# the booking attempt and the reply row, in one atomic statement. The ON CONFLICT
# target names the partial unique index one_message_per_provider_id, predicate
# spelled out as PostgreSQL needs to see it.
WRITE = text(
    f"""
    WITH inbound AS (
      INSERT INTO messages
        (direction, transport, external_id, phone, gateway_number, body, created_at, attempts)
      VALUES ('{Direction.IN.value}', :transport, :external_id, :phone, :gateway_number,
              :inbound_body, :now, 0)
      ON CONFLICT (transport, external_id) WHERE direction = '{Direction.IN.value}' DO NOTHING
      RETURNING id
    ), attempt AS (
      INSERT INTO booking_attempts (at, phone, nik_hash, nik_masked, office_code, outcome)
      SELECT :now, :phone, :nik_hash, :nik_masked, :office, :outcome FROM inbound
    ), reply AS (
      INSERT INTO messages
        (direction, transport, phone, gateway_number, body, reply_to_id, created_at,
         status, attempts)
      SELECT '{Direction.OUT.value}', :transport, :phone, :gateway_number, :reply_body,
             inbound.id, :now, :status, 0
      FROM inbound
      RETURNING id
    )
    SELECT reply.id FROM reply
    """
).bindparams(bindparam("now", type_=UTCDateTime()))

# The stored reply to an earlier delivery of the same provider message id.
EARLIER_REPLY = text(
    f"""
    SELECT reply.id, reply.body, reply.status
    FROM messages AS inbound
    LEFT JOIN messages AS reply ON reply.reply_to_id = inbound.id
    WHERE inbound.transport = :transport AND inbound.external_id = :external_id
      AND inbound.direction = '{Direction.IN.value}'
    ORDER BY reply.id
    LIMIT 1
    """
)


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
    its statement, the request gets a 503 that the provider retries, and
    SQLAlchemy recycles the pool on that disconnect error.
    """
    return create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})


class CrowdLane:
    """Answer a clean applicant's DAFTAR for a full day in two statements, or decline."""

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
        self._daftar_words = frozenset(
            word for route in router.routes if route.keyword == DAFTAR for word in route.words
        )

    def answer(self, message: InboundMessage, now: datetime) -> Reply | None:
        """Return the reply if the lane may answer ``message``; None to take the full path."""
        request = self._request(message, now)
        if request is None:
            return None
        office = request.office
        today = self.calendar.today(office, now)
        horizon = today + timedelta(days=self.settings.booking.max_days_ahead)
        nik_hash = request.nik.keyed_hash(self.nik_secret)
        with self.engine.connect() as conn:
            facts = self._facts(conn, request, nik_hash, today, horizon, now)
            if facts.objection or facts.recent + 1 > office.rules.messages_per_hour:
                return None
            refusal = self._refusal(request, today, facts)
            if refusal is None:
                return None
            reply_text = replies.refusal(refusal)
            inbound_body = mask_niks_in_text(message.text)
            reply_id = conn.execute(
                WRITE,
                {
                    "transport": message.transport,
                    "external_id": message.external_id,
                    "phone": message.sender,
                    "gateway_number": message.recipient,
                    "inbound_body": inbound_body,
                    "now": now,
                    "nik_hash": nik_hash,
                    "nik_masked": request.nik.masked,
                    "office": office.code,
                    "outcome": type(refusal).__name__,
                    "reply_body": reply_text,
                    "status": (
                        SendStatus.SENT if message.reply_inline else SendStatus.PENDING
                    ).value,
                },
            ).scalar()
            if reply_id is None:  # a provider retry: answer with what was stored
                return self._earlier_reply(conn, message)
        metrics.INBOUND.labels(message.transport, DAFTAR, "refused").inc()
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

    def _request(self, message: InboundMessage, now: datetime) -> BookingRequest | None:
        """Return the booking request if the message is a well-formed first-come DAFTAR."""
        command = parse(message.text)
        if command.word not in self._daftar_words or not command.args:
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
        conn,  # type: ignore[no-untyped-def]
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
        ).all()
        first = rows[0]
        seats = {
            (r.slot_date, r.session_name): (r.booked, r.quota_override)
            for r in rows
            if r.slot_date is not None
        }
        objection = bool(first.known or first.blocked or first.waiting or first.entered)
        return _Facts(first.recent, objection or bool(first.closed), seats)

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
    def _earlier_reply(conn, message: InboundMessage) -> Reply:  # type: ignore[no-untyped-def]
        row = conn.execute(
            EARLIER_REPLY,
            {"transport": message.transport, "external_id": message.external_id},
        ).first()
        metrics.INBOUND.labels(message.transport, "retry", "duplicate").inc()
        if row is None or row.id is None:
            return Reply("", duplicate=True, outcome="duplicate")
        return Reply(
            row.body,
            message_id=row.id,
            duplicate=True,
            needs_sending=row.status != SendStatus.SENT.value,
            outcome="duplicate",
        )
