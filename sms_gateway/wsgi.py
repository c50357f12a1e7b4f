"""WSGI entry point for production servers: ``gunicorn sms_gateway.wsgi:app``.

Reads the config from ``$SMS_GATEWAY_CONFIG`` (and the usual env overrides).
A Twilio auth token is required here: a production server never accepts
unsigned webhooks.
"""

from __future__ import annotations

from sms_gateway.app import create_app
from sms_gateway.config import load_settings
from sms_gateway.logs import configure_logging

settings = load_settings()
configure_logging(settings.logging)
app = create_app(settings)
