"""Send each parsed command to its handler, from an explicit, ordered registry.

The registry is a plain list, read top to bottom: no auto-discovery, so a
reader sees every command in one place (RapidSMS learned to regret discovery).
Staff commands come first and pass a gate: the sender must be registered staff
(otherwise the reply is the ordinary unknown-command text, so their existence
is not revealed), the first argument must be the right PIN (five wrong ones
lock the phone for 30 minutes), and the role must allow the command. Every
staff command, accepted or refused, is written to the audit log. Domain errors
raised by handlers become replies here, in one place.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from sms_gateway import replies
from sms_gateway.application.context import Context
from sms_gateway.errors import DomainError, StaffLocked, StaffUsage, WrongPin, WrongRole
from sms_gateway.keywords import STAFF_KEYWORDS
from sms_gateway.messages import Reply
from sms_gateway.models import Staff, StaffRole
from sms_gateway.parser import Command
from sms_gateway.services import staff as staff_service

Handler = Callable[[Context, Command], Reply]

# How close a word must be to a keyword to be answered with "did you mean ...?".
TYPO_CUTOFF = 0.7


@dataclass(frozen=True)
class Route:
    """One SMS command: its keyword, the other words that mean it, and its handler.

    A staff route has a ``role`` (the least role allowed) and a ``usage`` line;
    its handler receives the arguments after the PIN, and ``ctx.staff``.
    """

    keyword: str
    aliases: tuple[str, ...]
    handle: Handler
    role: StaffRole | None = None
    usage: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        return (self.keyword, *self.aliases)

    @property
    def for_staff(self) -> bool:
        return self.role is not None


class Router:
    """Match a command's first word to a route; unknown words get help or a suggestion."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._by_word: dict[str, Route] = {}
        for route in self.routes:
            for word in route.words:
                if word in self._by_word:
                    raise ValueError(f"keyword {word!r} is registered twice")
                self._by_word[word] = route
        staff = {w for route in self.routes if route.for_staff for w in route.words}
        if staff != STAFF_KEYWORDS:
            # keywords.py lets the storage boundary mask a PIN after any staff keyword.
            raise ValueError(
                f"staff words {sorted(staff ^ STAFF_KEYWORDS)} disagree with keywords.py"
            )

    @property
    def words(self) -> frozenset[str]:
        """Return every keyword and alias the router answers to."""
        return frozenset(self._by_word)

    def command_name(self, command: Command) -> str:
        """Return the canonical keyword of the command, or "unknown" (for metrics)."""
        route = self._by_word.get(command.word)
        return route.keyword if route is not None else "unknown"

    def is_staff_command(self, command: Command) -> bool:
        """Return True when the command's word names a staff command."""
        route = self._by_word.get(command.word)
        return route is not None and route.for_staff

    def dispatch(self, ctx: Context, command: Command) -> Reply:
        """Run the handler for ``command``; may raise a DomainError (see ``refusal``)."""
        route = self._by_word.get(command.word)
        if route is not None and route.for_staff:
            return self._dispatch_staff(ctx, command, route)
        if route is not None:
            return route.handle(ctx, command)
        staff = staff_service.staff_by_phone(ctx.session, ctx.message.sender)
        suggestion = self.suggest(command.word, include_staff=staff is not None)
        if suggestion is not None:
            return Reply(replies.did_you_mean(suggestion, self.usage(suggestion)))
        return Reply(replies.render("unknown"))

    def _dispatch_staff(self, ctx: Context, command: Command, route: Route) -> Reply:
        staff = staff_service.staff_by_phone(ctx.session, ctx.message.sender)
        # Stored as typed: the audit_log column masks the PIN and any NIK (models.Redacted).
        typed = f"{command.word} {command.rest}".strip()

        def record(outcome: str) -> None:
            ctx.after.append(
                lambda session: staff_service.audit(
                    session,
                    now=ctx.now,
                    phone=ctx.message.sender,
                    staff=staff,
                    command=typed,
                    outcome=outcome,
                )
            )

        if staff is None:
            # Not a staff phone: answer exactly as for any unknown word.
            record("not_staff")
            return Reply(replies.render("unknown"))
        if not command.args:
            record("usage")
            raise StaffUsage(route.usage)
        self._check_pin(ctx, staff, command.args[0], route, record)
        if route.role == StaffRole.KEPALA and staff.role != StaffRole.KEPALA:
            record("wrong_role")
            raise WrongRole(route.keyword)
        staff_ctx = dataclasses.replace(ctx, staff=staff)
        try:
            reply = route.handle(staff_ctx, Command(command.word, command.args[1:]))
        except DomainError as err:
            record(getattr(err, "key", type(err).__name__))
            raise
        record("ok")
        return reply

    @staticmethod
    def _check_pin(
        ctx: Context, staff: Staff, pin: str, route: Route, record: Callable[[str], None]
    ) -> None:
        office = ctx.core.settings.office(staff.office_code)
        tz = office.timezone if office else ctx.core.settings.booking.timezone
        if staff.locked_until is not None and staff.locked_until > ctx.now:
            record("locked")
            raise StaffLocked(staff.locked_until.astimezone(tz))
        if staff_service.check_pin(pin, staff.pin_hash):
            if staff.failed_pins:
                ctx.after.append(lambda session: _reset_failures(session, staff.id))
            return
        # Counted after the savepoint, so the refusal that follows cannot undo it.
        ctx.after.append(lambda session: staff_service.count_wrong_pin(session, staff.id, ctx.now))
        record("wrong_pin")
        tries_left = staff_service.MAX_WRONG_PINS - staff.failed_pins - 1
        if tries_left <= 0:
            raise StaffLocked((ctx.now + staff_service.LOCKOUT).astimezone(tz))
        raise WrongPin(tries_left, route.usage)

    def suggest(self, word: str, *, include_staff: bool = False) -> str | None:
        """Return the keyword an obvious typo meant (``DAFTR`` -> ``DAFTAR``), or None.

        Staff keywords are suggested only to staff phones.
        """
        if sum(c.isdigit() for c in word) >= 8:
            return "DAFTAR"  # a NIK sent without the keyword
        if len(word) < 3:
            return None
        candidates = [
            w
            for w, r in self._by_word.items()
            if len(w) >= 3 and (include_staff or not r.for_staff)
        ]
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=TYPO_CUTOFF)
        return self._by_word[close[0]].keyword if close else None

    def usage(self, keyword: str) -> str:
        """Return the usage line shown with "did you mean" for a keyword."""
        return replies.USAGE.get(keyword) or self._by_word[keyword].usage

    @staticmethod
    def refusal(err: DomainError) -> Reply:
        """Turn a domain error into the reply that explains it."""
        return Reply(replies.refusal(err))


def _reset_failures(session: Session, staff_id: int) -> None:
    session.execute(
        update(Staff)
        .where(Staff.id == staff_id)
        .values(failed_pins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
