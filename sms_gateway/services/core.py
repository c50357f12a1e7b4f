"""What every service is built on, and the one event that crosses services.

``Core`` carries the process-wide things a service needs (settings, the office
calendar, the NIK key, the clock, the database's session factory), so that a
service's constructor names only its real collaborators. ``SeatEvents`` is the
typed way a freed seat reaches the waitlist: the booking and office services
announce, the waitlist subscribes when it is built. Nothing here imports a
service, so every service can import it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from sms_gateway.config import OfficeSpec, Settings
from sms_gateway.schedule import OfficeCalendar

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Core:
    """The process-wide parts every service shares, built once by the gateway."""

    settings: Settings
    calendar: OfficeCalendar
    nik_secret: bytes  # keys every NIK and phone hash (see nik_secret.py)
    clock: Clock
    sessions: sessionmaker[Session]
    _by_number: dict[str, OfficeSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_number = {o.sms_number: o for o in self.settings.offices if o.sms_number}
        object.__setattr__(self, "_by_number", by_number)

    def office_for(self, recipient: str | None) -> OfficeSpec:
        """Return the office whose SMS number received the message, else the first office."""
        return self._by_number.get(recipient or "", self.settings.offices[0])


class SeatListener(Protocol):
    """Called in the transaction that freed a seat of ``office`` on ``day``."""

    def __call__(self, session: Session, office: OfficeSpec, day: date, now: datetime) -> object:
        """React to the freed seat (the waitlist gives it to the first in line)."""


class SeatEvents:
    """Announce freed seats to whoever subscribed (the waitlist), in the same transaction."""

    def __init__(self) -> None:
        self._listeners: list[SeatListener] = []

    def subscribe(self, listener: SeatListener) -> None:
        """Call ``listener`` for every seat freed from now on."""
        self._listeners.append(listener)

    @property
    def heard(self) -> bool:
        """Return True when someone listens (a freed seat can be handed on)."""
        return bool(self._listeners)

    def seat_freed(self, session: Session, office: OfficeSpec, day: date, now: datetime) -> None:
        """Tell every listener that a seat of ``office`` on ``day`` came free."""
        for listener in self._listeners:
            listener(session, office, day, now)
