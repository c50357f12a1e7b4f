"""The ceiling: the smallest Flask app that answers an SMS webhook.

``flash_crowd.py`` replays the very same requests against this app, under the
same gunicorn settings, to measure what any Flask webhook can do on this
machine. It ignores the request (no signature check, no form parsing, no
database) and returns one fixed TwiML reply, so its req/s is an upper bound:
the gateway's ratio to it says how much the gateway's own work costs.

Run it as ``gunicorn -c deploy/gunicorn.conf.py bench.ceiling_app:app`` from
the project root.
"""

from __future__ import annotations

from flask import Flask, Response

# Built once: the reply is the same for every request.
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>OK</Message></Response>'

app = Flask(__name__)


def _reply() -> Response:
    return Response(TWIML, status=200, content_type="text/xml; charset=utf-8")


@app.post("/sms/twilio")
def twilio() -> Response:
    """Answer a Twilio webhook without looking at it."""
    return _reply()


@app.route("/sms/kannel", methods=["GET", "POST"])
def kannel() -> Response:
    """Answer a Kannel call the same way (the body shape does not matter here)."""
    return _reply()


@app.get("/healthz")
def healthz() -> Response:
    """Answer 200, so the benchmark waits for this app as it waits for the gateway."""
    return Response("ok\n", status=200, content_type="text/plain; charset=utf-8")
