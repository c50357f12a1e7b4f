"""The columns a waitlist place and a lottery entry share: who asked for which office day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.columns import PHONE_OR_PSEUDONYM

# The tables' column order, as the migrations created them: the id, then a
# lottery entry's round_id (given REQUEST_ORDER too: a table's own columns come
# before a mixin's of the same order), then these, then each table's own.
ID_ORDER = -2
REQUEST_ORDER = -1


class ApplicantRequest:
    """A request for a place on an office day (a mixin): the phone's and the NIK's one request."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=ID_ORDER)
    office_code: Mapped[str] = mapped_column(String(8), sort_order=REQUEST_ORDER)
    day: Mapped[date] = mapped_column(Date, sort_order=REQUEST_ORDER)
    session_name: Mapped[str | None] = mapped_column(
        String(16), nullable=True, sort_order=REQUEST_ORDER
    )  # None: any
    phone: Mapped[str] = mapped_column(String(PHONE_OR_PSEUDONYM), sort_order=REQUEST_ORDER)
    nik_hash: Mapped[str] = mapped_column(String(64), sort_order=REQUEST_ORDER)
    nik_masked: Mapped[str] = mapped_column(String(16), sort_order=REQUEST_ORDER)
