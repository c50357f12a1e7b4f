"""Small helpers the staff command handlers share: their office, today, dates, targets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sms_gateway.application.context import Context
from sms_gateway.config import OfficeSpec
from sms_gateway.dates import DateParseError, parse_date
from sms_gateway.errors import StaffRefusal, StaffUsage
from sms_gateway.models import BlockKind
from sms_gateway.nik import NikError, parse_nik
from sms_gateway.phones import PhoneError, mask_phone, normalize_phone

# A date may be written in up to three words ("8 Des 2026").
MAX_DATE_WORDS = 3


def staff_office(ctx: Context) -> OfficeSpec:
    """Return the office of the staff member sending the command."""
    assert ctx.staff is not None
    office = ctx.core.settings.office(ctx.staff.office_code)
    if office is None:
        raise StaffRefusal(
            "staff_usage",
            usage=f"kantor {ctx.staff.office_code} tidak ada lagi di konfigurasi; hubungi admin",
            problem="",
        )
    return office


def staff_today(ctx: Context) -> date:
    """Return today in the staff member's office."""
    return ctx.core.calendar.today(staff_office(ctx), ctx.now)


def take_date(
    ctx: Context, args: Sequence[str], usage: str, *, allow_past: bool = False
) -> tuple[date, list[str]]:
    """Read a date from the first one to three arguments; return it and the rest."""
    if not args:
        raise StaffUsage(usage)
    today = staff_today(ctx)
    for words in range(min(MAX_DATE_WORDS, len(args)), 0, -1):
        try:
            day = parse_date(" ".join(args[:words]), today)
        except DateParseError:
            continue
        if day < today and not allow_past:
            raise StaffRefusal("staff_past_date", day=day, usage=usage)
        return day, list(args[words:])
    raise StaffRefusal("staff_bad_date", text=args[0], usage=usage)


def whole_number(text: str, low: int, high: int) -> int | None:
    """Return ``text`` as a whole number from ``low`` to ``high``, or None.

    ASCII digits only: ``str.isdigit`` also accepts digits ``int`` refuses (an
    Ethiopic one, say), and a few thousand digits pass ``isdigit`` but not ``int``.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def block_target(ctx: Context, text: str, usage: str) -> tuple[BlockKind, str, str]:
    """Read a phone number or NIK; return (kind, stored value, masked form)."""
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) == 16:
        try:
            nik = parse_nik(digits)
        except NikError:
            raise StaffUsage(usage, "NIK tidak valid") from None
        return BlockKind.NIK, nik.keyed_hash(ctx.core.nik_secret), nik.masked
    try:
        phone = normalize_phone(text)
    except PhoneError:
        raise StaffUsage(usage, "bukan nomor HP atau NIK") from None
    # Replies never repeat a long number in full, the blocked phone's included.
    return BlockKind.PHONE, phone, mask_phone(phone)


def target_word(kind: BlockKind) -> str:
    """Name a block's target in a reply: "NIK" or "Nomor"."""
    return "NIK" if kind == BlockKind.NIK else "Nomor"
