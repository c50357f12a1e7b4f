"""Send each parsed command to its handler, from an explicit, ordered registry.

The registry is a plain list, read top to bottom: no auto-discovery, so a
reader sees every command in one place (RapidSMS learned to regret discovery).
Domain errors raised by handlers become replies here, in one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sms_gateway import replies
from sms_gateway.context import Context
from sms_gateway.errors import DomainError
from sms_gateway.messages import Reply
from sms_gateway.parser import Command

Handler = Callable[[Context, Command], Reply]

# How close a word must be to a keyword to be answered with "did you mean ...?".
TYPO_CUTOFF = 0.7


@dataclass(frozen=True)
class Route:
    """One SMS command: its keyword, the other words that mean it, and its handler."""

    keyword: str
    aliases: tuple[str, ...]
    handle: Handler

    @property
    def words(self) -> tuple[str, ...]:
        return (self.keyword, *self.aliases)


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

    @property
    def words(self) -> frozenset[str]:
        """Return every keyword and alias the router answers to."""
        return frozenset(self._by_word)

    def dispatch(self, ctx: Context, command: Command) -> Reply:
        """Run the handler for ``command``; may raise a DomainError (see ``refusal``)."""
        route = self._by_word.get(command.word)
        if route is not None:
            return route.handle(ctx, command)
        suggestion = self.suggest(command.word)
        if suggestion is not None:
            return Reply(replies.did_you_mean(suggestion))
        return Reply(replies.render("unknown"))

    def suggest(self, word: str) -> str | None:
        """Return the keyword an obvious typo meant (``DAFTR`` -> ``DAFTAR``), or None."""
        if sum(c.isdigit() for c in word) >= 8:
            return "DAFTAR"  # a NIK sent without the keyword
        if len(word) < 3:
            return None
        close = difflib.get_close_matches(
            word, [w for w in self._by_word if len(w) >= 3], n=1, cutoff=TYPO_CUTOFF
        )
        return self._by_word[close[0]].keyword if close else None

    @staticmethod
    def refusal(err: DomainError) -> Reply:
        """Turn a domain error into the reply that explains it."""
        return Reply(replies.refusal(err))


def default_router() -> Router:
    """Return the gateway's commands, in the order they are matched."""
    from handlers import bantuan, batal, cek, daftar, kantor

    return Router([daftar.ROUTE, batal.ROUTE, cek.ROUTE, kantor.ROUTE, bantuan.ROUTE])
