"""Channels: one sub-package per SMS provider, holding everything about it.

Each of ``twilio``, ``kannel`` and ``gammu`` keeps its inbound side (verifying
and parsing what the provider sends, the Flask blueprint or SMSD's
``RunOnReceive`` entry), its sender, its delivery-report map and raw sample
payloads. ``registry`` picks a sender by its configured name, ``web`` is
what the webhook channels share, ``sample`` is the shape of a raw sample and
``console`` is the trial sender. The sender interface they implement is
``sms_gateway.sending``, below both the channels and the services.

This ``__init__`` imports nothing, so importing one channel never loads the
others (or Flask, or the Twilio library).
"""
