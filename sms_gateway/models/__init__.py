"""Database tables, as typed SQLAlchemy 2.x models, one module per aggregate.

The rules that matter are constraints (partial unique indexes), not only
checks in Python: see ``bookings.py``, ``waitlist.py`` and ``lottery.py``.
The closed sets stored in status columns are the StrEnums of ``statuses.py``.
Importing this package declares every table on ``Base.metadata`` (which
Alembic compares with the migrations).
"""

from __future__ import annotations

from sms_gateway.models.audit_chain import ChainHead, ChainRecord
from sms_gateway.models.base import Base
from sms_gateway.models.bookings import (
    ACTIVE_ONLY,
    Booking,
    BookingAttempt,
    OfficeDay,
    SessionSlot,
    format_queue_number,
)
from sms_gateway.models.columns import NOT_ANONYMISED, PHONE_OR_PSEUDONYM, Redacted, UTCDateTime
from sms_gateway.models.lottery import ENTERED_ONLY, LotteryEntry, LotteryRound
from sms_gateway.models.messages import INBOUND_ONLY, DeliveryReport, Message
from sms_gateway.models.meta import GatewayMeta
from sms_gateway.models.office import Block, OfficeClosure
from sms_gateway.models.staff import AuditEntry, Staff
from sms_gateway.models.statuses import (
    HOLDING,
    BlockKind,
    BookingStatus,
    DeliveryStatus,
    Direction,
    EntryStatus,
    LotteryStatus,
    SendStatus,
    StaffRole,
    WaitStatus,
)
from sms_gateway.models.waitlist import WAITING_ONLY, WaitlistEntry

__all__ = [
    "ACTIVE_ONLY",
    "ENTERED_ONLY",
    "HOLDING",
    "INBOUND_ONLY",
    "NOT_ANONYMISED",
    "PHONE_OR_PSEUDONYM",
    "WAITING_ONLY",
    "AuditEntry",
    "Base",
    "Block",
    "BlockKind",
    "Booking",
    "BookingAttempt",
    "BookingStatus",
    "ChainHead",
    "ChainRecord",
    "DeliveryReport",
    "DeliveryStatus",
    "Direction",
    "EntryStatus",
    "GatewayMeta",
    "LotteryEntry",
    "LotteryRound",
    "LotteryStatus",
    "Message",
    "OfficeClosure",
    "OfficeDay",
    "Redacted",
    "SendStatus",
    "SessionSlot",
    "Staff",
    "StaffRole",
    "UTCDateTime",
    "WaitStatus",
    "WaitlistEntry",
    "format_queue_number",
]
