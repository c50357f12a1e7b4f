"""The shape of a raw sample: one request as a provider makes it, and its expected outcome.

Each webhook channel's ``samples`` module lists such requests, captured from
(or modelled exactly on) what the provider sends; ``tests/test_channel_samples.py``
puts each through the real Flask app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sms_gateway.messages import InboundMessage
from sms_gateway.models import DeliveryStatus


@dataclass(frozen=True)
class HttpSample:
    """One raw HTTP request and what the gateway must make of it."""

    name: str
    method: str
    path: str  # with the query string exactly as the provider sends it
    headers: Mapping[str, str]
    body: bytes
    status: int  # the HTTP status the gateway answers
    message: InboundMessage | None = None  # what the adapter hands inward; None: nothing
    delivery: DeliveryStatus | None = None  # what a delivery report records
