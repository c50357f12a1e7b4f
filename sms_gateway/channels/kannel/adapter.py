"""Kannel: verify and parse the calls of an smsbox ``sms-service`` (``/sms/kannel``).

Two forms of the call are understood, with the same key and the same rules:

- ``post-url`` (what deploy/kannel/kannel.conf ships): smsbox POSTs the raw text
  as the body, its charset in ``Content-Type`` (``text/plain; charset="UTF-16BE"``
  for UCS-2, ``application/octet-stream`` for 8-bit data), and the numbers and
  coding in ``X-Kannel-From`` (only with ``send-sender = true``), ``X-Kannel-To``
  and ``X-Kannel-Coding``. Anything the URL's query string carries (``key``,
  ``id=%I``, which has no header) is read from there, and a field whose header
  is missing may be given there too.
- ``get-url`` (older installs): ``from``, ``to``, ``text`` and optionally ``id``,
  ``coding`` and ``charset`` in the query string (``%p %P %b %I %c %C``), or the
  same as a form POST. The whole text is in the request line, so a long UCS-2
  message (Kannel writes ``%XX`` for every byte) can pass gunicorn's 4,094-byte
  limit and be refused with a 414 before it reaches the gateway: that is why
  the shipped config uses ``post-url``.

The shared secret comes as ``key`` and is compared in constant time.

UCS-2 messages (``coding=2``) arrive as raw UTF-16BE bytes unless smsbox has
``mo-recode = true`` (the shipped config sets it). The text is therefore decoded
here from the raw bytes with the charset Kannel names, not as the UTF-8 a web
framework assumes, and only with a charset on an explicit list (``CHARSETS``).
A call naming another charset, or whose text is not valid in its charset, is
answered 400 with the reason and changes nothing.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Request

from sms_gateway.channels.web import gateway_number, same_secret
from sms_gateway.config import Settings
from sms_gateway.messages import InboundMessage
from sms_gateway.phones import PhoneError, normalize_phone

TRANSPORT = "kannel"
UCS2 = "2"
BINARY = "1"

# The charsets a Kannel smsbox names for MO text (%C, or the charset of a post-url's
# Content-Type), in the spellings Kannel and iconv use, and the Python codec for each.
# Kannel 1.4.5 sends UTF-8 (7-bit text, converted from GSM by the SMSC driver, and
# UCS-2 after mo-recode) and UTF-16BE (UCS-2); the others are what older Kannels and
# SMSC drivers name (the SOAP driver: UCS-2, ISO-8859-1; the user guide: WINDOWS-1252
# for recoded text). The list is explicit because codecs.lookup() also accepts names
# that are not text charsets at all: bytes-to-bytes codecs (base64, hex, zlib, bz2, uu,
# quopri), rot13, "undefined", punycode, and utf-7, which decodes to lone surrogates
# the database cannot store. "GSM" is not here: Kannel never passes GSM 03.38 septets
# on (the user guide's "GSM" label is from releases whose text was then Latin-1), so
# there is no single right way to read bytes labelled so.
CHARSETS = {
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    # UCS-2 is the BMP subset of UTF-16; phones that send emoji in a "UCS-2"
    # message send UTF-16 surrogate pairs, which the UTF-16BE codec reads.
    "UTF-16BE": "utf-16-be",
    "UTF16BE": "utf-16-be",
    "UCS-2": "utf-16-be",
    "UCS2": "utf-16-be",
    "UCS-2BE": "utf-16-be",
    "UCS2BE": "utf-16-be",
    "ISO-8859-1": "latin-1",
    "ISO8859-1": "latin-1",
    "ISO_8859-1": "latin-1",
    "LATIN1": "latin-1",
    "LATIN-1": "latin-1",
    "WINDOWS-1252": "cp1252",
    "CP1252": "cp1252",
    "US-ASCII": "ascii",
    "ASCII": "ascii",
}
# What %C says for an 8-bit data message (coding=1): Kannel 1.4.5 and its user guide.
BINARY_CHARSETS = frozenset({"8-BIT", "BINARY"})

# post-url: the X-Kannel header that carries each field.
POST_URL_HEADERS = {"from": "X-Kannel-From", "to": "X-Kannel-To", "coding": "X-Kannel-Coding"}
# The body types smsbox's post-url sends (and none, from a hand-made call).
POST_URL_TYPES = frozenset({"text/plain", "application/octet-stream", ""})
FORM = "application/x-www-form-urlencoded"


class BadRequest(Exception):
    """The request is malformed; the message says how (answered with 400)."""


class Unreadable(Exception):
    """The text cannot be decoded; the applicant is asked to send plain text."""


class KannelAdapter:
    """Verify, parse and answer calls from a Kannel smsbox."""

    # Logged at start-up when accept_unsigned is set.
    unsigned_warning = (
        "kannel: no secret configured: accepting calls without a key "
        "(loopback trial only; never expose this server)"
    )

    def __init__(self, settings: Settings, *, allow_unsigned: bool = False) -> None:
        self.secret = settings.kannel.secret
        self.accept_unsigned = self.secret is None and allow_unsigned

    def verify(self, params: dict[str, bytes]) -> bool:
        """Return True when the call carries our shared secret (or in a loopback trial)."""
        if self.secret is None:
            return self.accept_unsigned
        key = params.get("key")
        return key is not None and same_secret(key.decode("latin-1"), self.secret)

    @staticmethod
    def raw_params(req: Request) -> dict[str, bytes]:
        """Return query and urlencoded form parameters as raw bytes (first value wins)."""
        pairs = _raw_pairs(req.query_string)
        if req.method == "POST" and req.mimetype == FORM:
            pairs += _raw_pairs(req.get_data())
        params: dict[str, bytes] = {}
        for name, value in pairs:
            params.setdefault(name, value)
        return params

    def parse(self, req: Request, params: dict[str, bytes]) -> InboundMessage:
        """Turn Kannel's call into a message; raise BadRequest or Unreadable."""
        if req.method == "POST" and "text" not in params and req.mimetype != FORM:
            fields = post_url_fields(req, params)
        else:
            fields = params
        missing = [
            name
            for name in ("from", "to", "text")
            if name not in fields or (name != "text" and not fields[name])
        ]
        if missing:
            raise BadRequest(f"missing parameter(s): {', '.join(missing)}")
        try:
            sender = normalize_phone(_ascii(fields["from"], "from"))
        except PhoneError:
            raise BadRequest("from is not a phone number") from None
        recipient = gateway_number(_ascii(fields["to"], "to"))
        message_id = _ascii(fields.get("id", b""), "id").strip() or None
        if message_id is not None and (len(message_id) > 64 or not message_id.isprintable()):
            raise BadRequest("id must be at most 64 printable characters")
        text = decode_text(
            fields["text"],
            _ascii(fields.get("coding", b""), "coding"),
            _ascii(fields.get("charset", b""), "charset"),
        )
        return InboundMessage(
            transport=TRANSPORT,
            sender=sender,
            recipient=recipient,
            text=text,
            external_id=message_id,
        )


def post_url_fields(req: Request, params: dict[str, bytes]) -> dict[str, bytes]:
    """Return the fields of a post-url call: the body as ``text``, the rest from headers.

    A field's X-Kannel header wins over the same name in the query string: it is
    what smsbox states about this very body. The charset is the Content-Type's.
    """
    if req.mimetype not in POST_URL_TYPES:
        raise BadRequest(f"unsupported Content-Type {req.mimetype[:60]!r}")
    fields = dict(params)
    for name, header in POST_URL_HEADERS.items():
        value = req.headers.get(header, "").strip()
        if value:
            fields[name] = _header_bytes(value)
    charset = req.mimetype_params.get("charset", "").strip()
    if charset:
        fields["charset"] = _header_bytes(charset)
    fields["text"] = req.get_data()
    return fields


def _header_bytes(value: str) -> bytes:
    # Never fails (a decoded RFC 2231 parameter may hold any character); the
    # ASCII check of each field then refuses what is not plain ASCII.
    return value.encode("utf-8", "surrogatepass")


def _raw_pairs(data: bytes) -> list[tuple[str, bytes]]:
    """Split a urlencoded string into names and raw byte values.

    Latin-1 maps every byte to one code point and back, so percent-escapes come
    out as the exact bytes Kannel sent (parse_qsl on bytes would decode them as
    UTF-8 and lose UTF-16 text).
    """
    text = data.decode("latin-1")
    return [
        (name, value.encode("latin-1"))
        for name, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1")
    ]


def _ascii(value: bytes, name: str) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest(f"{name} is not plain ASCII") from None


def decode_text(raw: bytes, coding: str, charset: str) -> str:
    """Decode the SMS text Kannel passed, by its coding and charset.

    Raise Unreadable for an 8-bit data message (the applicant is told to send
    text), and BadRequest for a charset not in ``CHARSETS`` or text that is not
    valid in its charset.
    """
    coding = coding.strip()
    name = charset.strip().upper()
    if coding == BINARY or name in BINARY_CHARSETS:
        raise Unreadable("8-bit binary message")
    if not name:
        name = "UTF-16BE" if coding == UCS2 else "UTF-8"
    codec = CHARSETS.get(name)
    if codec is None:
        raise BadRequest(f"unsupported charset {charset.strip()[:40]!r}")
    try:
        return raw.decode(codec)
    except UnicodeError:  # UnicodeDecodeError, and any other complaint of a codec
        raise BadRequest(f"text is not valid {name}") from None
