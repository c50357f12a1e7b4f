"""Database tables, as typed SQLAlchemy 2.x models.

The rules that matter are constraints here, not only checks in Python: the
partial unique indexes ``one_active_booking_per_phone`` and
``one_active_booking_per_nik`` hold across all offices, and queue numbers are
unique per office and day. Quotas are enforced by the atomic conditional
update in ``services/booking.py`` on ``session_slots``.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from sms_gateway.redact import redact, redact_command


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always give them back aware.

    SQLite has no time zone type, so without this a value read back would be
    naive and comparisons with ``datetime.now(UTC)`` would fail.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Redacted(TypeDecorator[str]):
    """Text that is masked on its way into the database (``redact.redact``).

    The storage boundary for free text: whatever a handler, a service or a
    bulk statement binds to such a column, a NIK-length digit run never
    reaches the table in clear. With ``length``, the masked text is also cut
    to fit (NFKC folding can lengthen a ligature).
    """

    impl = Text
    cache_ok = True

    def __init__(self, length: int | None = None, *, command: bool = False) -> None:
        super().__init__()
        self.length = length
        self.command = command
        # The stored type itself, which Alembic compares with the migrations.
        self.impl = String(length) if length else Text()  # type: ignore[assignment]

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        masked = redact_command(value) if self.command else redact(value)
        return masked[: self.length] if self.length else masked


class BookingStatus(enum.StrEnum):
    """Where a booking stands; see HOLDING for the ones that block the phone and NIK."""

    ACTIVE = "active"  # booked, not yet at the office
    CHECKED_IN = "checked_in"  # HADIR: at the office, identity card matched
    CALLED = "called"  # PANGGIL: sent to a counter
    SERVED = "served"  # SELESAI
    CANCELLED = "cancelled"  # BATAL by the applicant
    CANCELLED_BY_OFFICE = "cancelled_by_office"  # TUTUP: the office closed that day
    NO_SHOW = "no_show"  # the day passed without a check-in
    EXPIRED = "expired"  # the day passed after check-in, never marked served
    RELEASED = "released"  # not confirmed (YA) by the deadline: the seat went to others


# Bookings that still hold their seat and count as the phone's and NIK's one booking.
HOLDING = (BookingStatus.ACTIVE, BookingStatus.CHECKED_IN, BookingStatus.CALLED)


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class SendStatus(enum.StrEnum):
    """Where an outbound SMS stands on our side (delivery to the phone is separate)."""

    PENDING = "pending"  # written (in the outbox), not yet handed to a provider
    SENDING = "sending"  # claimed by a worker that is handing it over right now
    SENT = "sent"  # handed over: in an HTTP reply, accepted by sendsms, queued in SMSD
    FAILED = "failed"  # the provider refused it; ``error`` says why


class DeliveryStatus(enum.StrEnum):
    """What the operator's delivery reports said last (Kannel DLR, Twilio status...)."""

    ACCEPTED = "accepted"  # the SMSC took it
    QUEUED = "queued"  # the SMSC queued it
    DELIVERED = "delivered"  # it reached the phone
    UNDELIVERED = "undelivered"  # it did not reach the phone
    REJECTED = "rejected"  # the SMSC refused it

    @property
    def final(self) -> bool:
        """Return True for outcomes a later, intermediate report must not overwrite."""
        return self in (
            DeliveryStatus.DELIVERED,
            DeliveryStatus.UNDELIVERED,
            DeliveryStatus.REJECTED,
        )


def _enum(cls: type[enum.StrEnum], name: str, length: int = 16) -> Enum:
    # Plain VARCHAR, no CHECK: later issues add statuses without a table rebuild.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


ACTIVE_ONLY = text("status IN ('active', 'checked_in', 'called')")  # = HOLDING
INBOUND_ONLY = text("direction = 'in'")
# Rows whose phone the retention purge (services/retention.py) has not anonymised
# yet. A literal, not a bound parameter: the purge's queries repeat it word for
# word, so both databases use the partial "ix_*_unpurged" indexes that carry it.
NOT_ANONYMISED = text("substr(phone, 1, 5) <> 'anon:'")
# A phone column that may hold an anonymised phone ("anon:" + 64 hex digits)
# after its retention period or an applicant's HAPUS; an E.164 number needs 16.
PHONE_OR_PSEUDONYM = 80


class Base(DeclarativeBase):
    if TYPE_CHECKING:
        # DeclarativeBase types this as any FromClause, since a class may be mapped
        # to a join or a subquery; every model here declares a __tablename__, so
        # it is mapped to a Table (which INSERT and UPDATE accept).
        __table__: ClassVar[Table]


class Booking(Base):
    """One applicant's seat in one office session on one day."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_code: Mapped[str] = mapped_column(String(8))
    booking_date: Mapped[date] = mapped_column(Date)
    session_name: Mapped[str] = mapped_column(String(16))
    queue_seq: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM))
    nik_hash: Mapped[str] = mapped_column(String(64))
    nik_masked: Mapped[str] = mapped_column(String(16))
    status: Mapped[BookingStatus] = mapped_column(
        _enum(BookingStatus, "booking_status", length=24), default=BookingStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    served_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    counter: Mapped[str | None] = mapped_column(String(8), nullable=True)  # the loket called to
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reschedules: Mapped[int] = mapped_column(Integer, default=0)  # UBAH so far
    # BATAL after the confirmation deadline: counts as a no-show for penalties.
    late_cancel: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index(
            "one_active_booking_per_phone",
            "phone",
            unique=True,
            sqlite_where=ACTIVE_ONLY,
            postgresql_where=ACTIVE_ONLY,
        ),
        Index(
            "one_active_booking_per_nik",
            "nik_hash",
            unique=True,
            sqlite_where=ACTIVE_ONLY,
            postgresql_where=ACTIVE_ONLY,
        ),
        UniqueConstraint(
            "office_code", "booking_date", "queue_seq", name="queue_number_once_per_office_day"
        ),
        Index("ix_bookings_day", "booking_date", "office_code"),
        Index("ix_bookings_phone", "phone"),
        Index("ix_bookings_nik_hash", "nik_hash"),
        Index(
            "ix_bookings_unpurged",
            "booking_date",
            sqlite_where=NOT_ANONYMISED,
            postgresql_where=NOT_ANONYMISED,
        ),
    )

    @property
    def queue_number(self) -> str:
        """Return the number the applicant shows at the counter, e.g. ``PMK-007``."""
        return format_queue_number(self.office_code, self.queue_seq)


def format_queue_number(office_code: str, seq: int) -> str:
    """Format a queue number: office code, hyphen, at least three digits."""
    return f"{office_code}-{seq:03d}"


class SessionSlot(Base):
    """Seats taken in one office session on one day: the row the quota update locks."""

    __tablename__ = "session_slots"

    office_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    slot_date: Mapped[date] = mapped_column(Date, primary_key=True)
    session_name: Mapped[str] = mapped_column(String(16), primary_key=True)
    booked: Mapped[int] = mapped_column(Integer, default=0)
    # NULL means "the quota in the config"; staff overrides (a later issue) set it.
    quota_override: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # TUTUP sets it, BUKA clears it. The claim of a seat is conditional on it, so a
    # booking racing with the closure either commits before TUTUP reads the day's
    # bookings (and is cancelled with them) or finds the counter closed.
    closed: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (CheckConstraint("booked >= 0", name="booked_not_negative"),)


class OfficeDay(Base):
    """The last queue number handed out for an office day; numbers are never reused."""

    __tablename__ = "office_days"

    office_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_queue_seq: Mapped[int] = mapped_column(Integer, default=0)


class Message(Base):
    """Every SMS in or out, NIK masked. Inbound rows also keep the reply for retries."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "message_direction"))
    transport: Mapped[str] = mapped_column(String(16))
    # The provider's id (Twilio MessageSid); unique per transport so a retry is seen.
    external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM))
    gateway_number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Inbound bodies arrive here already masked as commands (PIN too), by the
    # inbox; the column masks every other text, replies included.
    body: Mapped[str] = mapped_column(Redacted())
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Outbound only: our side of sending, and the latest delivery report.
    status: Mapped[SendStatus | None] = mapped_column(
        _enum(SendStatus, "send_status"), nullable=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivery_status: Mapped[DeliveryStatus | None] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), nullable=True
    )
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The outbox: how often a worker tried, when it may try again, when it went out.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        # Inbound only: a provider's retry of a message is answered once. Outbound ids
        # (an SMSD outbox file, a Twilio SID) are kept for reference and must never
        # stop the gateway from recording that a reply went out.
        Index(
            "one_message_per_provider_id",
            "transport",
            "external_id",
            unique=True,
            sqlite_where=INBOUND_ONLY,
            postgresql_where=INBOUND_ONLY,
        ),
        # The hourly limit counts a phone's inbound messages (migration 0008).
        Index("ix_messages_phone_direction", "phone", "direction", "created_at"),
        Index("ix_messages_outbox", "status", "next_attempt_at"),
        # A provider retry gets the reply stored for its first delivery (migration 0007).
        Index("ix_messages_reply_to", "reply_to_id"),
        # The retention purge finds old messages here (migration 0010).
        Index(
            "ix_messages_unpurged",
            "created_at",
            sqlite_where=NOT_ANONYMISED,
            postgresql_where=NOT_ANONYMISED,
        ),
    )


class DeliveryReport(Base):
    """One delivery report as the provider sent it (append-only history)."""

    __tablename__ = "delivery_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    transport: Mapped[str] = mapped_column(String(16))
    code: Mapped[int] = mapped_column(Integer)  # the provider's own status code
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    detail: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StaffRole(enum.StrEnum):
    PETUGAS = "petugas"  # counter staff
    KEPALA = "kepala"  # office head: everything a petugas does, and more


class Staff(Base):
    """A staff member who may send staff commands from this phone, with a PIN."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    office_code: Mapped[str] = mapped_column(String(8))
    role: Mapped[StaffRole] = mapped_column(_enum(StaffRole, "staff_role"))
    name: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(255))  # scrypt, see staff.py
    failed_pins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """One staff command, accepted or refused. Append-only (database triggers)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    staff_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    office_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    command: Mapped[str] = mapped_column(Redacted(command=True))  # PIN and NIK masked
    outcome: Mapped[str] = mapped_column(String(32))  # "ok", or why it was refused


class ChainRecord(Base):
    """One link of the tamper-evident audit chain (see services/chain.py).

    ``hash`` covers the previous record's hash and this record's own fields, so
    editing, removing or inserting a record breaks every later link. Append-only
    (database triggers), like the staff audit log.
    """

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(24))  # booking, staff, lottery_commit, ...
    subject: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "booking:42"
    data: Mapped[str] = mapped_column(Text)  # canonical JSON: what was recorded
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ChainHead(Base):
    """The newest link of the audit chain: one row, locked by every append.

    Appends queue on this row's lock, so two transactions can never both extend
    the chain from the same record.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("id = 1", name="one_chain_head"),)


class OfficeClosure(Base):
    """A day an office was closed by its head (TUTUP), on top of the configured calendar."""

    __tablename__ = "office_closures"

    office_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(Redacted(64), default="")
    closed_by: Mapped[str] = mapped_column(String(20))
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BlockKind(enum.StrEnum):
    PHONE = "phone"
    NIK = "nik"


class Block(Base):
    """A phone or NIK barred from booking until a date (BLOKIR; penalties later)."""

    __tablename__ = "blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[BlockKind] = mapped_column(_enum(BlockKind, "block_kind"))
    value: Mapped[str] = mapped_column(String(64))  # E.164 phone, or the NIK's HMAC
    masked: Mapped[str] = mapped_column(String(20))  # what staff may see
    until: Mapped[date] = mapped_column(Date)  # last day of the block
    reason: Mapped[str] = mapped_column(Redacted(64), default="")
    created_by: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_blocks_value", "kind", "value"),)


class WaitStatus(enum.StrEnum):
    WAITING = "waiting"
    PROMOTED = "promoted"  # got a seat (booking_id)
    CANCELLED = "cancelled"  # BATAL
    EXPIRED = "expired"  # the day came without a free seat


WAITING_ONLY = text("status = 'waiting'")


class WaitlistEntry(Base):
    """A place in line for a full office day (TUNGGU); promoted when a seat frees up.

    A waiting entry is the phone's and the NIK's one request, like a booking.
    """

    __tablename__ = "waitlist"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_code: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)
    session_name: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: any
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM))
    nik_hash: Mapped[str] = mapped_column(String(64))
    nik_masked: Mapped[str] = mapped_column(String(16))
    status: Mapped[WaitStatus] = mapped_column(
        _enum(WaitStatus, "wait_status"), default=WaitStatus.WAITING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)

    __table_args__ = (
        Index(
            "one_waiting_entry_per_phone",
            "phone",
            unique=True,
            sqlite_where=WAITING_ONLY,
            postgresql_where=WAITING_ONLY,
        ),
        Index(
            "one_waiting_entry_per_nik",
            "nik_hash",
            unique=True,
            sqlite_where=WAITING_ONLY,
            postgresql_where=WAITING_ONLY,
        ),
        Index("ix_waitlist_line", "office_code", "day", "status", "id"),
        Index("ix_waitlist_phone", "phone", "created_at"),  # rule 11 (rules.py)
        Index(
            "ix_waitlist_unpurged",
            "day",
            sqlite_where=NOT_ANONYMISED,
            postgresql_where=NOT_ANONYMISED,
        ),
    )


class LotteryStatus(enum.StrEnum):
    OPEN = "open"  # taking entries until closes_at
    DRAWN = "drawn"  # the draw ran: winners booked, the rest on the waitlist


class LotteryRound(Base):
    """The draw for one office day in lottery mode (see services/lottery.py).

    ``commitment`` (SHA-256 of the round's secret) is written, and recorded in
    the audit chain, before the window opens; ``secret`` is revealed at the
    draw. Anyone can then check the commitment and re-run the draw.
    """

    __tablename__ = "lottery_rounds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    office_code: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    commitment: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str | None] = mapped_column(String(64), nullable=True)  # revealed at the draw
    seed: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entries_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[LotteryStatus] = mapped_column(
        _enum(LotteryStatus, "lottery_status"), default=LotteryStatus.OPEN
    )
    entries: Mapped[int] = mapped_column(Integer, default=0)  # counted at the draw
    winners: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("office_code", "day", name="one_lottery_per_office_day"),
        Index("ix_lottery_rounds_due", "status", "closes_at"),
    )


class EntryStatus(enum.StrEnum):
    ENTERED = "entered"  # in the draw
    WITHDRAWN = "withdrawn"  # BATAL before the draw
    WON = "won"  # got a booking (booking_id)
    WAITLISTED = "waitlisted"  # lost: put on the waitlist in draw order (waitlist_id)
    REFUSED = "refused"  # drawn, but blocked or penalised by then


ENTERED_ONLY = text("status = 'entered'")


class LotteryEntry(Base):
    """One applicant's entry in a lottery round; the phone's and NIK's one request."""

    __tablename__ = "lottery_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("lottery_rounds.id"))
    office_code: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)
    session_name: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: any
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM))
    nik_hash: Mapped[str] = mapped_column(String(64))
    nik_masked: Mapped[str] = mapped_column(String(16))
    status: Mapped[EntryStatus] = mapped_column(
        _enum(EntryStatus, "entry_status"), default=EntryStatus.ENTERED
    )
    draw_rank: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1 = drawn first
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"), nullable=True)
    waitlist_id: Mapped[int | None] = mapped_column(ForeignKey("waitlist.id"), nullable=True)

    __table_args__ = (
        Index(
            "one_lottery_entry_per_phone",
            "phone",
            unique=True,
            sqlite_where=ENTERED_ONLY,
            postgresql_where=ENTERED_ONLY,
        ),
        Index(
            "one_lottery_entry_per_nik",
            "nik_hash",
            unique=True,
            sqlite_where=ENTERED_ONLY,
            postgresql_where=ENTERED_ONLY,
        ),
        Index("ix_lottery_entries_round", "round_id", "status"),
        Index("ix_lottery_entries_phone", "phone", "created_at"),  # rule 11 (rules.py)
        Index(
            "ix_lottery_entries_unpurged",
            "day",
            sqlite_where=NOT_ANONYMISED,
            postgresql_where=NOT_ANONYMISED,
        ),
    )


class BookingAttempt(Base):
    """Every DAFTAR/TUNGGU with a valid NIK, whatever the outcome: the fraud report's source."""

    __tablename__ = "booking_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM), index=True)
    nik_hash: Mapped[str] = mapped_column(String(64), index=True)
    nik_masked: Mapped[str] = mapped_column(String(16))
    office_code: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        Index(
            "ix_booking_attempts_unpurged",
            "at",
            sqlite_where=NOT_ANONYMISED,
            postgresql_where=NOT_ANONYMISED,
        ),
    )


class GatewayMeta(Base):
    """Small key/value facts about this database, such as the NIK secret's fingerprint."""

    __tablename__ = "gateway_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
