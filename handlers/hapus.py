"""HAPUS (ERASE): erase what the law allows of this phone's data, at once.

Indonesia's personal data protection law (UU PDP No. 27/2022) gives everyone
the right to have their data erased. HAPUS erases the text of the phone's
earlier messages (in and out) and replaces its phone number on its finished
bookings, waitlist places and lottery entries by a pseudonym
(``services/retention.py``). It refuses while the phone still holds a
booking, a place in line or a draw entry, whose phone the office still needs:
the refusal says to send BATAL first.

What stays, and why: the message rows (their count and times, still with the
number until ``[privacy] keep_messages_days``, for the hourly limit and the
reports), the masked NIK and the NIK's HMAC (the one-booking-per-NIK rule and
the NIK's no-show penalty), booking attempts until ``keep_bookings_days`` (the
fraud report), blocks (a block must not be lifted by its subject), and the
audit chain, which never held the number. The erasure itself is recorded in
the chain with the phone's keyed hash only.
"""

from __future__ import annotations

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.application.router import Route
from sms_gateway.errors import StillHolding
from sms_gateway.messages import Reply
from sms_gateway.parser import Command
from sms_gateway.services.retention import Retention
from sms_gateway.services.transitions import lock_identities


def handle(ctx: Context, command: Command) -> Reply:
    """Erase this phone's old data, or say what to cancel first."""
    phone = ctx.message.sender
    # The inbox took the sender's lock already (a no-op here): no BATAL, DAFTAR or
    # TUNGGU from this phone runs between the checks below and the erasure.
    lock_identities(ctx.session, phone)
    booking = ctx.services.bookings.active_booking(ctx.session, ctx.now, phone=phone, lock=True)
    if booking is not None:
        raise StillHolding(booking=booking)
    waiting = ctx.services.bookings.waiting_entry(ctx.session, phone=phone)
    if waiting is not None:
        raise StillHolding(waiting=waiting)
    entered = ctx.services.lottery.entry_of(ctx.session, phone)
    if entered is not None:
        raise StillHolding(entered=entered)
    erasure = Retention(ctx.core.settings, ctx.core.nik_secret).erase(ctx.session, phone, ctx.now)
    return Reply(replies.erased(erasure.messages, erasure.records))


ROUTE = Route("HAPUS", ("ERASE",), handle)
