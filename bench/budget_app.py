"""The budget: what a Flask webhook with N plain database round trips can do.

``flash_crowd.py`` compares the gateway with the ceiling (a Flask route that
does nothing). This app sits between the two: it parses the form, checks the
Twilio signature (and ignores the verdict), then runs one transaction of
``BUDGET_ROUNDTRIPS`` round trips on a raw psycopg connection (BEGIN, N-2
trivial SELECTs, COMMIT) and answers fixed TwiML. It tells how many round trips
per message fit under a given ratio on this machine before any application
logic or ORM work is counted (see BENCHMARKS.md, "The budget")::

    BUDGET_ROUNDTRIPS=16 SMS_GATEWAY_BIND=127.0.0.1:8111 \\
        .venv/bin/gunicorn -c deploy/gunicorn.conf.py bench.budget_app:app
    wrk -t4 -c64 -d10s -s bench/budget.lua http://127.0.0.1:8111/sms/twilio

``BUDGET_DRIVER=sqlalchemy`` runs the same statements through a SQLAlchemy
engine (a prebuilt ``text()`` on a pooled Connection) instead of raw psycopg:
the difference is SQLAlchemy's own cost per statement.
``SMS_GATEWAY_BENCH_POSTGRES_URL`` names the server (default: the local
``test`` database; no tables are needed).
"""

from __future__ import annotations

import os

import psycopg
from flask import Flask, Response, request
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>OK</Message></Response>'
ROUNDTRIPS = int(os.environ.get("BUDGET_ROUNDTRIPS", "8"))
DRIVER = os.environ.get("BUDGET_DRIVER", "psycopg")
SA_URL = os.environ.get(
    "SMS_GATEWAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
URL = SA_URL.replace("postgresql+psycopg://", "postgresql://")
STATEMENT = text("SELECT CAST(:i AS integer) + 1")

app = Flask(__name__)
validator = RequestValidator("budget-token")
_connection: psycopg.Connection | None = None
# Created at import, which gunicorn does in each worker (preload_app is off).
_engine = create_engine(SA_URL) if DRIVER == "sqlalchemy" else None


def connection() -> psycopg.Connection:
    """Return this worker's connection, opened on first use (after gunicorn's fork)."""
    global _connection
    if _connection is None:
        _connection = psycopg.connect(URL)
    return _connection


@app.post("/sms/twilio")
def twilio() -> Response:
    """Read and check the request like a webhook, then spend the round trips."""
    validator.validate(request.url, request.form, request.headers.get("X-Twilio-Signature", ""))
    if ROUNDTRIPS >= 2 and _engine is not None:
        with _engine.begin() as sa:  # BEGIN ... COMMIT
            for i in range(ROUNDTRIPS - 2):
                sa.execute(STATEMENT, {"i": i}).first()
    elif ROUNDTRIPS >= 2:
        conn = connection()
        with conn.transaction():  # BEGIN ... COMMIT: two round trips
            for i in range(ROUNDTRIPS - 2):
                conn.execute("SELECT %s::int + 1", (i,)).fetchone()
    return Response(TWIML, status=200, content_type="text/xml; charset=utf-8")


@app.get("/healthz")
def healthz() -> Response:
    """Answer 200 once the worker is up."""
    return Response("ok\n", status=200, content_type="text/plain; charset=utf-8")
