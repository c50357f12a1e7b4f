"""Twilio: the messaging webhook and status callback, the REST sender, the status map.

``adapter`` verifies and parses Twilio's form, ``webhook`` is the Flask
blueprint, ``delivery`` maps Twilio's MessageStatus to ours, ``sender`` calls
the Messages API and ``samples`` holds raw requests as Twilio sends them.
"""
