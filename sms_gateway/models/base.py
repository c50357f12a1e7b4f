"""The declarative base every table derives from."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """The declarative base: every table here is declared on its metadata."""

    if TYPE_CHECKING:
        # DeclarativeBase types this as any FromClause, since a class may be mapped
        # to a join or a subquery; every model here declares a __tablename__, so
        # it is mapped to a Table (which INSERT and UPDATE accept).
        __table__: ClassVar[Table]
