"""Kannel: smsbox's ``sms-service`` calls and delivery reports, the sendsms sender.

``adapter`` verifies and parses smsbox's calls (GET, form POST, post-url),
``webhook`` is the Flask blueprint, ``delivery`` maps Kannel's DLR types to
ours, ``sender`` calls sendsms and ``samples`` holds raw calls as smsbox and
bearerbox make them.
"""
