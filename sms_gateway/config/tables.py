"""Read TOML tables into the settings dataclasses, naming the file, key and reason of every problem.

A settings dataclass (settings.py) declares each key once: its type, its default
and, in ``Annotated[...]``, its bounds and where it comes from. :meth:`Table.read`
turns a TOML table into such a dataclass by those declarations alone, so a
default or a bound is never written again in the loader.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import time
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sms_gateway.phones import PhoneError, normalize_phone

T = TypeVar("T")

_TIME_RE = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
_HTTP_URL_RE = re.compile(r"^https?://[^/\s]+(/\S*)?$")
# Strings are capped so that a pasted file or a runaway value cannot become a setting.
_MAX_STRING = 500


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


# -- what a field's Annotated[...] may say about it --------------------------------------


@dataclass(frozen=True)
class Range:
    """A whole number from ``low`` to ``high``, both included."""

    low: int
    high: int


@dataclass(frozen=True)
class MaxLen:
    """A string of at most ``chars`` characters (instead of the general cap)."""

    chars: int


@dataclass(frozen=True)
class Key:
    """Where the field is read from when not from the key of its own name in its own table.

    ``table`` is for a dataclass whose fields come from several tables (Rules).
    """

    name: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class Env:
    """The environment variable that, when set and not empty, wins over the file."""

    var: str


@dataclass(frozen=True)
class Folded:
    """A closed set of names compared after this case folding, e.g. ``str.lower``."""

    fold: Callable[[str], str]


@dataclass(frozen=True)
class Named:
    """A closed set of names that each stand for a value (logging levels)."""

    values: Mapping[str, object]


@dataclass(frozen=True)
class Check:
    """A check of a given string: it returns the value to keep or raises ``table.fail``."""

    parse: Callable[[Table, str, str], object]


_DECLARED: Any = object()  # Table.value's default: the dataclass's own default


# -- the reader ---------------------------------------------------------------------------


class Table:
    """Read typed values from one TOML table and complain precisely about bad ones."""

    def __init__(self, data: Any, name: str, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: {name} must be a table")
        self.data: dict[str, Any] = data
        self.name, self.where = name, where
        self.seen: set[str] = set()

    def fail(self, key: str, problem: str) -> ConfigError:
        """Return the error for ``key`` of this table: file, table, key, then the problem."""
        return ConfigError(f"{self.where}: {self.name} {key} {problem}")

    def get(self, key: str) -> Any:
        """Return the raw value of ``key`` (None when absent), marking the key as known."""
        self.seen.add(key)
        return self.data.get(key)

    def string(
        self, key: str, default: str | None = None, *, max_len: int = _MAX_STRING
    ) -> str | None:
        """Return the stripped string at ``key``, or ``default`` when absent or empty."""
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string (got {value!r})")
        value = value.strip()
        if len(value) > max_len:
            raise self.fail(key, f"must be at most {max_len} characters (got {len(value)})")
        return value or default

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        """Return the whole number at ``key`` from ``low`` to ``high``, or ``default``."""
        value = self.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be a whole number from {low} to {high} (got {value!r})")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """Return the true or false at ``key``, or ``default``."""
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false (got {value!r})")
        return value

    def time(self, key: str) -> time:
        """Return the time of day at ``key`` ("08:00", "8.00" or a TOML time); it is required."""
        value = self.get(key)
        if isinstance(value, time):
            return value.replace(second=0, microsecond=0)
        if isinstance(value, str) and (m := _TIME_RE.match(value.strip())):
            return time(int(m.group(1)), int(m.group(2)))
        raise self.fail(key, f'must be a time like "08:00" (got {value!r})')

    def value(
        self,
        cls: type[object],
        name: str,
        *,
        default: Any = _DECLARED,
        env: Mapping[str, str] | None = None,
    ) -> Any:
        """Return field ``name`` of dataclass ``cls`` as declared there, else ``default``.

        Without ``default``, the dataclass's own default (None when it has none).
        An environment variable the field names wins when ``env`` has it set.
        """
        spec = _fields(cls)[name]
        value = self._read(spec, spec.default() if default is _DECLARED else default)
        return (env.get(spec.env) if env and spec.env else None) or value

    def read(
        self, cls: type[T], *, base: T | None = None, env: Mapping[str, str] | None = None
    ) -> T:
        """Return dataclass ``cls`` read from this table; absent keys keep ``base``'s values."""
        return read_dataclass(cls, {"": self}, base=base, env=env)

    def done(self) -> None:
        """Refuse keys nobody reads: a typo must not silently fall back to a default."""
        for key in self.data:
            if key not in self.seen:
                hint = difflib.get_close_matches(key, self.seen, n=1)
                extra = f" (did you mean {hint[0]}?)" if hint else ""
                raise ConfigError(f"{self.where}: unknown key {self.name} {key}{extra}")

    def _read(self, spec: _Field, default: Any) -> Any:
        if spec.kind is bool:
            return self.boolean(spec.key, default)
        if spec.kind is int and spec.choices is None:
            assert spec.range is not None, f"{spec.key} has no Range"
            return self.integer(spec.key, default, low=spec.range.low, high=spec.range.high)
        if spec.kind is time:
            return default if self.get(spec.key) is None else self.time(spec.key)
        text = self.string(spec.key, max_len=spec.max_len)
        if text is None:
            return default
        if spec.choices is not None:
            return self._choice(spec, spec.fold(text))
        if spec.kind is ZoneInfo:
            return self._zone(spec.key, text)
        return spec.check(self, spec.key, text) if spec.check else text

    def _choice(self, spec: _Field, name: str) -> object:
        assert spec.choices is not None
        if name in spec.choices:
            return spec.choices[name]
        names = list(spec.choices)
        # A pair reads best as an either-or; a longer set as a list.
        allowed = (
            f'"{names[0]}" or "{names[1]}"' if len(names) == 2 else f"one of {', '.join(names)}"
        )
        raise self.fail(spec.key, f"must be {allowed} (got {name!r})")

    def _zone(self, key: str, name: str) -> ZoneInfo:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(
                key,
                f"{name!r} is not a known time zone "
                "(use e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)",
            ) from None


def read_dataclass(
    cls: type[T],
    tables: Mapping[str, Table],
    *,
    base: T | None = None,
    env: Mapping[str, str] | None = None,
) -> T:
    """Return dataclass ``cls`` read field by field, each from the table its ``Key`` names.

    ``tables[""]`` is the table of fields that name none. Absent keys keep
    ``base``'s values, or without a base the dataclass's defaults.
    """
    values = {
        name: tables[spec.table].value(
            cls, name, default=spec.default() if base is None else getattr(base, name), env=env
        )
        for name, spec in _fields(cls).items()
    }
    return cls(**values)


def tables_of(cls: type[object]) -> tuple[str, ...]:
    """Return the tables the fields of ``cls`` are read from, in field order."""
    return tuple(dict.fromkeys(spec.table for spec in _fields(cls).values()))


# -- checks a field may name in Check(...) ------------------------------------------------


def http_url(table: Table, key: str, value: str) -> str:
    """Check an http(s) URL."""
    if not _HTTP_URL_RE.match(value):
        raise table.fail(key, f"must be an http(s) URL (got {value!r})")
    return value


def base_url(table: Table, key: str, value: str) -> str:
    """Check a public base URL (scheme, host, optional prefix); drop its trailing slash."""
    if not _HTTP_URL_RE.match(value):
        raise table.fail(key, "must look like https://host[/prefix]")
    return value.rstrip("/")


def phone_number(table: Table, key: str, value: str) -> str:
    """Check a phone number or short code and return it in E.164."""
    try:
        return normalize_phone(value, allow_short_code=True)
    except PhoneError:
        raise table.fail(key, f"is not a phone number ({value!r})") from None


# -- what the reader knows of each field ---------------------------------------------------


@dataclass(frozen=True)
class _Field:
    key: str
    table: str  # "" for the table the dataclass is read from
    kind: object  # the declared type without Annotated, Optional and Literal
    default: Callable[[], Any]
    range: Range | None = None
    max_len: int = _MAX_STRING
    env: str | None = None
    choices: Mapping[str, object] | None = None
    fold: Callable[[str], str] = str
    check: Callable[[Table, str, str], object] | None = None


_FIELDS: dict[type[Any], dict[str, _Field]] = {}


def _fields(cls: type[Any]) -> dict[str, _Field]:
    """Return what the reader knows of each field of dataclass ``cls``, by name."""
    if cls not in _FIELDS:
        hints = get_type_hints(cls, include_extras=True)
        _FIELDS[cls] = {f.name: _field(f, hints[f.name]) for f in dataclasses.fields(cls)}
    return _FIELDS[cls]


def _field(f: dataclasses.Field[Any], hint: Any) -> _Field:
    extras: tuple[object, ...] = ()
    if get_origin(hint) is Annotated:
        hint, *rest = get_args(hint)
        extras = tuple(rest)
    if get_origin(hint) in (Union, types.UnionType):  # X | None
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    choices = {name: name for name in get_args(hint)} if get_origin(hint) is Literal else None
    spec = _Field(f.name, "", hint, _default_of(f), choices=choices)
    for extra in extras:
        match extra:
            case Key():
                spec = replace(spec, key=extra.name or f.name, table=extra.table or "")
            case Range():
                spec = replace(spec, range=extra)
            case MaxLen():
                spec = replace(spec, max_len=extra.chars)
            case Env():
                spec = replace(spec, env=extra.var)
            case Folded():
                spec = replace(spec, fold=extra.fold)
            case Named():
                spec = replace(spec, choices=extra.values)
            case Check():
                spec = replace(spec, check=extra.parse)
    return spec


def _default_of(f: dataclasses.Field[Any]) -> Callable[[], Any]:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory
    default = None if f.default is dataclasses.MISSING else f.default
    return lambda: default
