"""The Flask application factory: one app, transports registered explicitly."""

from __future__ import annotations

import time

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from sms_gateway import metrics, pages
from sms_gateway.channels.kannel import webhook as kannel
from sms_gateway.channels.twilio import webhook as twilio
from sms_gateway.channels.web import unavailable_response
from sms_gateway.config import ConfigError, Settings, load_settings
from sms_gateway.gateway import Gateway

# Twilio's inbound form is a few kB; anything far larger is not an SMS webhook.
MAX_REQUEST_BYTES = 64 * 1024


def has_credentials(settings: Settings) -> bool:
    """Return True when at least one webhook transport can authenticate its caller."""
    return bool(settings.twilio.auth_token or settings.kannel.secret)


def accepts_unsigned(settings: Settings, *, loopback: bool) -> bool:
    """Return True when webhooks may arrive without any credential: the local trial.

    Only on loopback, and only while no transport has a credential at all. Once
    one has (a Twilio token, a Kannel secret), every transport requires its own and
    one without is refused, as in production: a half-configured server must not
    leave its other door open. (Gammu needs no rule here: it has no web endpoint;
    SMSD runs ``gammu-receive`` on the gateway's own machine.)
    """
    return loopback and not has_credentials(settings)


def create_app(
    settings: Settings | None = None,
    *,
    gateway: Gateway | None = None,
    allow_unsigned: bool = False,
) -> Flask:
    """Build the web app. ``allow_unsigned`` says it serves on loopback, for a local trial.

    Unsigned requests are accepted only when ``accepts_unsigned`` says so: with
    no credential configured at all. ``sms-gateway serve`` passes whether it
    listens on loopback; the WSGI app never allows them.
    """
    settings = settings or load_settings()
    if not allow_unsigned and not has_credentials(settings):
        raise ConfigError(
            "no transport is configured: set a Twilio auth token ([twilio] auth_token or env "
            "TWILIO_AUTH_TOKEN) and/or a Kannel secret ([kannel] secret or env KANNEL_SECRET); "
            "without one the gateway only starts on a loopback address, for local trials"
        )
    gateway = gateway or Gateway(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.extensions["sms_gateway"] = gateway

    hops = settings.server.proxy_hops
    if hops:
        # Twilio signs the public URL; behind nginx the app must see that URL too.
        # Flask's documented way to wrap the app in WSGI middleware; mypy forbids
        # assigning to a method, which wsgi_app is declared as.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=hops,
            x_proto=hops,
            x_host=hops,
            x_port=hops,
            x_prefix=hops,
        )

    unsigned = accepts_unsigned(settings, loopback=allow_unsigned)
    twilio.init_app(app, settings, allow_unsigned=unsigned)
    kannel.init_app(app, settings, allow_unsigned=unsigned)
    pages.init_app(app, gateway.services)

    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def observe_latency(response: Response) -> Response:
        started = g.get("started")
        if started is not None and request.endpoint != "metrics":
            metrics.HTTP_SECONDS.labels(request.endpoint or "unknown").observe(
                time.perf_counter() - started
            )
        return response

    @app.get("/metrics", endpoint="metrics")
    def metrics_endpoint() -> Response:
        """Expose Prometheus metrics (counts only: no phone numbers, no NIKs)."""
        return Response(metrics.exposition(gateway.sessions), content_type=metrics.CONTENT_TYPE)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        """Answer 200 when the database is reachable, 503 when it is not."""
        if gateway.healthy():
            return jsonify(status="ok"), 200
        return jsonify(status="database unreachable"), 503

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(exc: Exception) -> Response:
        # Delivery reports and status callbacks too: the provider tries again later.
        return unavailable_response()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # Plain text, no HTML page: the callers are SMS providers and scripts.
        return Response(
            f"{exc.code} {exc.name}\n", status=exc.code, content_type="text/plain; charset=utf-8"
        )

    return app
