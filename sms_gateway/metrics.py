"""Prometheus metrics: ``GET /metrics``.

Counted in the process that handles the message: inbound SMS by transport,
command and outcome, and HTTP latency. Read from the database at scrape time,
so they are right whichever process changed them (web workers, the outbox
worker, the CLI): the outbox backlog and failures, and bookings per office and
date. Under gunicorn, set ``PROMETHEUS_MULTIPROC_DIR`` (deploy/gunicorn.conf.py
does) so every worker's counters are added up (prometheus_client's
multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sms_gateway.models import (
    HOLDING,
    Booking,
    ChainHead,
    Direction,
    EntryStatus,
    LotteryEntry,
    Message,
)

INBOUND = Counter(
    "sms_inbound_messages", "Inbound SMS handled", ["transport", "command", "outcome"]
)
HTTP_SECONDS = Histogram(
    "sms_http_request_seconds",
    "Time to answer an HTTP request",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class DatabaseCollector(Collector):
    """Gauges read from the database when scraped."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outbox = GaugeMetricFamily(
            "sms_outbox_messages", "SMS the gateway sends on its own, by status", labels=["status"]
        )
        bookings = GaugeMetricFamily(
            "sms_bookings",
            "Bookings holding a seat, per office and date (today on)",
            labels=["office", "date"],
        )
        chain = GaugeMetricFamily(
            "sms_audit_chain_records",
            "Records in the tamper-evident audit chain (its head's number)",
        )
        entries = GaugeMetricFamily(
            "sms_lottery_entries",
            "Entries waiting for a lottery draw, per office and date",
            labels=["office", "date"],
        )
        today = datetime.now(UTC).date() - timedelta(days=1)  # any office's today, in any zone
        with self.sessions() as session:
            chain.add_metric([], session.scalar(select(ChainHead.seq)) or 0)
            for office, day, n in session.execute(
                select(LotteryEntry.office_code, LotteryEntry.day, func.count())
                .where(LotteryEntry.status == EntryStatus.ENTERED)
                .group_by(LotteryEntry.office_code, LotteryEntry.day)
            ):
                entries.add_metric([office, day.isoformat()], n)
            for status, n in session.execute(
                select(Message.status, func.count())
                .where(Message.direction == Direction.OUT, Message.reply_to_id.is_(None))
                .group_by(Message.status)
            ):
                outbox.add_metric([status.value if status else "unknown"], n)
            for office, day, n in session.execute(
                select(Booking.office_code, Booking.booking_date, func.count())
                .where(Booking.status.in_(HOLDING), Booking.booking_date >= today)
                .group_by(Booking.office_code, Booking.booking_date)
            ):
                bookings.add_metric([office, day.isoformat()], n)
        yield outbox
        yield bookings
        yield chain
        yield entries


class _ThisProcess(Collector):
    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()


def exposition(sessions: sessionmaker[Session]) -> bytes:
    """Return every metric in the Prometheus text format."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # all gunicorn workers, added up
    else:
        registry.register(_ThisProcess())
    registry.register(DatabaseCollector(sessions))
    return generate_latest(registry)
