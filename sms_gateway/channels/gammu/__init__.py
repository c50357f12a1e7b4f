"""Gammu SMSD: the ``RunOnReceive`` entry (``smsd``), the outbox sender, raw samples.

SMSD drives a USB GSM modem; it runs ``sms-gateway gammu-receive`` for each
received message and sends what ``gammu-smsd-inject`` queues. The gateway
asks SMSD for no delivery reports, so this channel has no delivery map.
"""
