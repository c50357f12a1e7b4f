"""Counts by name, the shape of what a job reports: a purge, a drain, a day's figures."""

from __future__ import annotations

from dataclasses import Field, fields
from typing import Any, ClassVar


class Tally:
    """A dataclass whose fields are counts (a mixin): listed and summed field by field."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # set by @dataclass on the subclass

    def as_dict(self) -> dict[str, int]:
        """Return the counts by name, in field order (a CSV's columns)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def total(self) -> int:
        """Return the sum of every count."""
        return sum(self.as_dict().values())
