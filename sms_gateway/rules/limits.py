"""The limits that are not booking rules: the hourly message limit, and rule 11's window."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, bindparam, func, select, type_coerce
from sqlalchemy.sql.elements import ColumnElement

from sms_gateway.models import Direction, Message

# The window of rule 11 (niks_per_phone).
NIK_WINDOW_DAYS = 30


def inbound_count(phone: ColumnElement[Any], since: ColumnElement[Any]) -> ColumnElement[int]:
    """Return the count of a phone's inbound messages after ``since`` (a scalar subquery)."""
    # The direction is bound, not inlined: see the facts query's parameters.
    inbound = bindparam("dir_in", Direction.IN.value, type_=String)
    return (
        select(func.count())
        .select_from(Message)
        .where(
            Message.phone == phone,
            type_coerce(Message.direction, String) == inbound,
            Message.created_at > since,
        )
        .scalar_subquery()
    )


def over_hourly_limit(recent: int, limit: int) -> bool:
    """Return True when a phone's messages of the last hour, this one included, pass the limit."""
    return recent > limit
