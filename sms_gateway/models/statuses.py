"""The closed sets stored in status columns, as StrEnums (stored by value).

Each is stored as a plain VARCHAR of its values (``columns.string_enum``): the
values here are the database's, and must never change.
"""

from __future__ import annotations

import enum


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
    """Which way a message went: from an applicant or staff (in), or to them (out)."""

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


class StaffRole(enum.StrEnum):
    """What a staff member may do: a counter officer, or the office head."""

    PETUGAS = "petugas"  # counter staff
    KEPALA = "kepala"  # office head: everything a petugas does, and more


class BlockKind(enum.StrEnum):
    """What a block (BLOKIR) bars: a phone, or a NIK (by its HMAC)."""

    PHONE = "phone"
    NIK = "nik"


class WaitStatus(enum.StrEnum):
    """Where a waitlist place stands; only a waiting one holds the phone and NIK."""

    WAITING = "waiting"
    PROMOTED = "promoted"  # got a seat (booking_id)
    CANCELLED = "cancelled"  # BATAL
    EXPIRED = "expired"  # the day came without a free seat


class LotteryStatus(enum.StrEnum):
    """Where a lottery round stands: taking entries, or drawn."""

    OPEN = "open"  # taking entries until closes_at
    DRAWN = "drawn"  # the draw ran: winners booked, the rest on the waitlist


class EntryStatus(enum.StrEnum):
    """Where a lottery entry stands; only an entered one holds the phone and NIK."""

    ENTERED = "entered"  # in the draw
    WITHDRAWN = "withdrawn"  # BATAL before the draw
    WON = "won"  # got a booking (booking_id)
    WAITLISTED = "waitlisted"  # lost: put on the waitlist in draw order (waitlist_id)
    REFUSED = "refused"  # drawn, but blocked or penalised by then
