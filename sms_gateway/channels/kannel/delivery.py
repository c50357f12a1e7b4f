"""Kannel's delivery-report types (the ``%d`` of a dlr-url), as our delivery statuses.

The sender asks for all of them (``sender.DLR_MASK``); REFERENCE.md 2.5 lists
what each means.
"""

from __future__ import annotations

from collections.abc import Mapping

from sms_gateway.models import DeliveryStatus

KANNEL_DLR: Mapping[int, DeliveryStatus] = {
    1: DeliveryStatus.DELIVERED,
    2: DeliveryStatus.UNDELIVERED,
    4: DeliveryStatus.QUEUED,
    8: DeliveryStatus.ACCEPTED,
    16: DeliveryStatus.REJECTED,
}
