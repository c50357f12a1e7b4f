"""The tamper-evident audit chain: its records and its head."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base
from sms_gateway.models.columns import UTCDateTime


class ChainRecord(Base):
    """One link of the tamper-evident audit chain (see services/chain.py).

    ``hash`` covers the previous record's hash and this record's own fields, so
    editing, removing or inserting a record breaks every later link. Append-only
    (database triggers), like the staff audit log.
    """

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(24))  # booking, staff, lottery_commit, ...
    subject: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "booking:42"
    data: Mapped[str] = mapped_column(Text)  # canonical JSON: what was recorded
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ChainHead(Base):
    """The newest link of the audit chain: one row, locked by every append.

    Appends queue on this row's lock, so two transactions can never both extend
    the chain from the same record.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("id = 1", name="one_chain_head"),)
