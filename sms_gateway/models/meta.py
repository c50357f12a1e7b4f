"""Facts about the database itself."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sms_gateway.models.base import Base


class GatewayMeta(Base):
    """Small key/value facts about this database, such as the NIK secret's fingerprint."""

    __tablename__ = "gateway_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
