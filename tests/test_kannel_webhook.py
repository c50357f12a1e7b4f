"""The Kannel endpoints, table-driven: MO via GET, form POST and post-url; DLRs."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sms_gateway.app import create_app
from sms_gateway.channels.kannel.adapter import CHARSETS, BadRequest, Unreadable, decode_text
from sms_gateway.channels.kannel.delivery import KANNEL_DLR
from sms_gateway.config import ConfigError, load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.models import Direction, Message, SendStatus
from sms_gateway.nik import mask_nik
from tests.conftest import VALID_NIK, Clock, count, database_down, write_config
from tests.kannel_harness import GUNICORN_REQUEST_LINE_LIMIT, get_url_request_line, long_ucs2_text

SECRET = "kannel-secret-0123456789"
DAFTAR = f"DAFTAR {VALID_NIK} 8-12-2026"


@pytest.fixture
def gateway(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Gateway]:
    path = write_config(tmp_path, db_url, twilio="", extra=f'[kannel]\nsecret = "{SECRET}"\n')
    gw = Gateway(load_settings(path, env={}), clock=clock)
    yield gw
    gw.close()


@pytest.fixture
def app(gateway: Gateway) -> Flask:
    return create_app(gateway.settings, gateway=gateway)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bookings(gateway: Gateway) -> int:
    return count(gateway, "SELECT count(*) FROM bookings")


def messages(gateway: Gateway) -> int:
    return count(gateway, "SELECT count(*) FROM messages")


def query(**params: str | bytes) -> str:
    """Build a query string; bytes values are percent-encoded as raw bytes, like Kannel's %a."""
    return "&".join(
        f"{k}={quote(v) if isinstance(v, bytes) else quote(v, safe='')}" for k, v in params.items()
    )


BASE: dict[str, str | bytes] = {
    "key": SECRET,
    "from": "6281234567890",
    "to": "+6282140000001",
    "text": DAFTAR,
    "id": "b5e7a6c2-0000-4000-8000-000000000001",
    "coding": "0",
    "charset": "UTF-8",
}


def _without(key: str) -> dict[str, str | bytes]:
    return {k: v for k, v in BASE.items() if k != key}


GET_CASES = [
    ("valid", BASE, 200, "Terdaftar! Antrean PMK-001", 1),
    ("national-from", BASE | {"from": "081234567890"}, 200, "Terdaftar!", 1),
    ("plus-from", BASE | {"from": "+6281234567890"}, 200, "Terdaftar!", 1),
    ("short-code-to", BASE | {"to": "1234"}, 200, "Terdaftar!", 1),
    ("odd-to-label", BASE | {"to": "x" * 300}, 200, "Terdaftar!", 1),
    ("no-id-no-coding", {k: BASE[k] for k in ("key", "from", "to", "text")}, 200, "Terdaftar!", 1),
    ("empty-text-gets-help", BASE | {"text": ""}, 200, "Antrean paspor lewat SMS.", 0),
    ("garbage-text", BASE | {"text": "\x00\x01 ??? %%%"}, 200, "Perintah tidak dikenal.", 0),
    ("wrong-key", BASE | {"key": "not-the-secret-at-all"}, 403, "invalid or missing key", 0),
    ("missing-key", _without("key"), 403, "invalid or missing key", 0),
    ("missing-from", _without("from"), 400, "missing parameter(s): from", 0),
    ("missing-to", _without("to"), 400, "missing parameter(s): to", 0),
    ("missing-text", _without("text"), 400, "missing parameter(s): text", 0),
    ("from-not-a-phone", BASE | {"from": "hello"}, 400, "from is not a phone number", 0),
    ("id-too-long", BASE | {"id": "x" * 65}, 400, "id must be at most 64 printable", 0),
    ("id-with-nul", BASE | {"id": "a\x00b"}, 400, "id must be at most 64 printable", 0),
    ("binary-coding", BASE | {"coding": "1"}, 200, "Maaf, pesan Anda tidak terbaca.", 0),
    ("binary-charset", BASE | {"charset": "8-BIT"}, 200, "Maaf, pesan Anda tidak terbaca.", 0),
    ("unknown-charset", BASE | {"charset": "KLINGON-8"}, 400, "unsupported charset 'KLINGON-8'", 0),
    ("lower-case-charset", BASE | {"charset": "utf-8"}, 200, "Terdaftar!", 1),
]


@pytest.mark.parametrize(
    ("params", "status", "start", "booked"),
    [c[1:] for c in GET_CASES],
    ids=[c[0] for c in GET_CASES],
)
def test_kannel_get(
    client: FlaskClient,
    gateway: Gateway,
    params: dict[str, str],
    status: int,
    start: str,
    booked: int,
) -> None:
    response = client.get("/sms/kannel?" + query(**params))
    assert response.status_code == status
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.get_data(as_text=True).startswith(start)
    assert bookings(gateway) == booked
    if status != 200:
        assert messages(gateway) == 0


def test_ucs2_text_is_decoded_from_the_raw_bytes(client: FlaskClient, gateway: Gateway) -> None:
    # Without mo-recode, Kannel passes UCS-2 text as percent-encoded UTF-16BE bytes.
    raw = "daftar \u20193528011505900001\u2019 8-12-2026".encode("utf-16-be")  # curly quotes
    response = client.get(
        "/sms/kannel?" + query(**BASE | {"text": raw, "coding": "2", "charset": "UTF-16BE"})
    )
    assert response.get_data(as_text=True).startswith("Terdaftar! Antrean PMK-001")
    # Without a charset, coding=2 still means UTF-16BE.
    response = client.get(
        "/sms/kannel?"
        + query(
            **BASE | {"text": "CEK".encode("utf-16-be"), "coding": "2", "charset": "", "id": "x2"}
        )
    )
    assert response.get_data(as_text=True).startswith("Antrean Anda PMK-001")


# -- charsets ------------------------------------------------------------------------------

# Names codecs.lookup() accepts that are no text charset (bytes-to-bytes codecs, rot13),
# or whose codec fails oddly (undefined raises UnicodeError, punycode reads any ASCII).
# Each gets a text that the codec itself would turn into a valid booking.
NOT_TEXT_CHARSETS = {
    "base64": codecs.encode(DAFTAR.encode(), "base64"),
    "hex": codecs.encode(DAFTAR.encode(), "hex"),
    "zlib": codecs.encode(DAFTAR.encode(), "zlib"),
    "bz2": codecs.encode(DAFTAR.encode(), "bz2"),
    "uu": codecs.encode(DAFTAR.encode(), "uu"),
    "quopri": codecs.encode(DAFTAR.encode(), "quopri"),
    "rot13": codecs.encode(DAFTAR, "rot13").encode(),
    "undefined": DAFTAR.encode(),
    "punycode": DAFTAR.encode("punycode"),
    # Also text codecs Kannel never names: utf-7 decodes "+2AA-" to a lone surrogate
    # (which no database stores), unicode_escape turns "\x00" into a NUL.
    "utf-7": b"DAFTAR +2AA- 3528011505900001",
    "unicode_escape": b"DAFTAR\\x00 3528011505900001",
    "idna": DAFTAR.encode(),
    "cp037": DAFTAR.encode("cp037"),
}


def post_url(
    client: FlaskClient,
    body: bytes,
    content_type: str = 'text/plain; charset="UTF-8"',
    query_string: str = f"key={SECRET}&id=b5e7a6c2-0000-4000-8000-0000000000aa",
    **headers: str,
) -> tuple[int, str]:
    """POST like smsbox's post-url (send-sender = true); return (status, body)."""
    sent = {
        "Content-Type": content_type,
        "X-Kannel-From": "6281234567890",
        "X-Kannel-To": "1234",
        "X-Kannel-Coding": "0",
        "X-Kannel-SMSC": "OPERATOR",
        "X-Kannel-Time": "2026-12-01 02:00:00",
    }
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    response = client.post(
        "/sms/kannel?" + query_string,
        data=body,
        headers={name: value for name, value in sent.items() if value},
    )
    assert response.content_type == "text/plain; charset=utf-8"
    return response.status_code, response.get_data(as_text=True)


@pytest.mark.parametrize(("charset", "text"), NOT_TEXT_CHARSETS.items(), ids=NOT_TEXT_CHARSETS)
def test_a_charset_that_is_not_a_kannel_text_charset_is_a_400_that_changes_nothing(
    client: FlaskClient, gateway: Gateway, charset: str, text: bytes
) -> None:
    for coding in ("0", "2"):
        response = client.get(
            "/sms/kannel?"
            + query(**BASE | {"text": text, "charset": charset, "coding": coding, "id": coding})
        )
        assert (response.status_code, response.get_data(as_text=True)) == (
            400,
            f"unsupported charset {charset!r}\n",
        )
        assert response.content_type == "text/plain; charset=utf-8"
    assert post_url(client, text, f'text/plain; charset="{charset}"') == (
        400,
        f"unsupported charset {charset!r}\n",
    )
    assert messages(gateway) == 0
    assert bookings(gateway) == 0


# Text that is not valid in the charset it is labelled with: a 400, never a guess.
UNDECODABLE = [
    ("utf8-ff", b"CEK \xff\xfe", "0", "UTF-8"),
    ("utf8-surrogate", b"CEK \xed\xa0\x80", "0", "UTF-8"),
    ("utf8-overlong", b"CEK \xc0\xaf", "0", ""),
    ("utf16-odd-length", b"\x00C\x00E\x00", "2", "UTF-16BE"),
    ("utf16-lone-high-surrogate", b"\x00C\xd8\x00", "2", "UCS-2"),
    ("utf16-lone-low-surrogate", b"\xdc\x00\x00C", "2", ""),
    ("cp1252-undefined-byte", b"CEK \x81", "0", "WINDOWS-1252"),
    ("ascii-8-bit", b"CEK \xe9", "0", "US-ASCII"),
]


@pytest.mark.parametrize(
    ("raw", "coding", "charset"), [c[1:] for c in UNDECODABLE], ids=[c[0] for c in UNDECODABLE]
)
def test_text_not_valid_in_its_charset_is_a_400_that_changes_nothing(
    client: FlaskClient, gateway: Gateway, raw: bytes, coding: str, charset: str
) -> None:
    named = charset.upper() or ("UTF-16BE" if coding == "2" else "UTF-8")
    response = client.get(
        "/sms/kannel?" + query(**BASE | {"text": raw, "coding": coding, "charset": charset})
    )
    assert (response.status_code, response.get_data(as_text=True)) == (
        400,
        f"text is not valid {named}\n",
    )
    content_type = f'text/plain; charset="{charset}"' if charset else "text/plain"
    assert post_url(client, raw, content_type, X_Kannel_Coding=coding) == (
        400,
        f"text is not valid {named}\n",
    )
    assert messages(gateway) == 0


@pytest.mark.parametrize("charset", sorted(CHARSETS))
def test_every_listed_charset_is_read(client: FlaskClient, gateway: Gateway, charset: str) -> None:
    codec = CHARSETS[charset]
    coding = "2" if codec == "utf-16-be" else "0"
    raw = DAFTAR.encode(codec)
    response = client.get(
        "/sms/kannel?" + query(**BASE | {"text": raw, "coding": coding, "charset": charset})
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("Terdaftar! Antrean PMK-001")
    # The same through post-url (a repeat by id: answered the same, booked once).
    status, body = post_url(
        client,
        raw,
        f'text/plain; charset="{charset.lower()}"',
        query_string=f"key={SECRET}&id={BASE['id']!s}",
        X_Kannel_Coding=coding,
    )
    assert (status, body) == (200, response.get_data(as_text=True))
    assert bookings(gateway) == 1


def test_form_post_works_like_get(client: FlaskClient, gateway: Gateway) -> None:
    response = client.post("/sms/kannel", data=BASE)
    assert response.get_data(as_text=True).startswith("Terdaftar! Antrean PMK-001")
    assert bookings(gateway) == 1


def test_post_url_body_with_kannel_headers(client: FlaskClient, gateway: Gateway) -> None:
    # As a hand-made client might send it: no charset given means UTF-8.
    response = client.post(
        f"/sms/kannel?key={SECRET}&id=abc",
        data=DAFTAR.encode(),
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "X-Kannel-From": "+6281234567890",
            "X-Kannel-To": "1234",
            "X-Kannel-Coding": "0",
        },
    )
    assert response.get_data(as_text=True).startswith("Terdaftar! Antrean PMK-001")
    missing = client.post(
        f"/sms/kannel?key={SECRET}", data=b"CEK", headers={"Content-Type": "text/plain"}
    )
    assert missing.status_code == 400
    assert "from" in missing.get_data(as_text=True)


def test_post_url_ucs2_body_is_decoded_from_its_content_type(
    client: FlaskClient, gateway: Gateway
) -> None:
    # What smsbox sends for a UCS-2 message without mo-recode: the raw UTF-16BE bytes.
    text = "daftar \u20193528011505900001\u2019 8-12-2026"  # a phone's curly quotes
    status, body = post_url(
        client, text.encode("utf-16-be"), 'text/plain; charset="UTF-16BE"', X_Kannel_Coding="2"
    )
    assert (status, body[:26]) == (200, "Terdaftar! Antrean PMK-001")
    with gateway.engine.connect() as conn:
        from sqlalchemy import text as sql

        stored = conn.execute(
            sql("SELECT body, phone, external_id FROM messages WHERE direction = 'in'")
        ).one()
    assert tuple(stored) == (
        "daftar \u20193528********0001\u2019 8-12-2026",
        "+6281234567890",
        "b5e7a6c2-0000-4000-8000-0000000000aa",
    )


def test_a_long_ucs2_message_fits_a_post_but_not_gunicorns_request_line(
    client: FlaskClient, gateway: Gateway
) -> None:
    text = long_ucs2_text(VALID_NIK)
    raw = text.encode("utf-16-be")
    fields = {"%p": b"6281234567890", "%P": b"1234", "%b": raw, "%I": b"x", "%c": b"2"}
    as_get = get_url_request_line(
        "http://127.0.0.1:8000/sms/kannel?key=K&from=%p&to=%P&text=%b&id=%I&coding=%c",
        fields,
    )
    assert len(as_get) > GUNICORN_REQUEST_LINE_LIMIT  # a 414 from gunicorn: the SMS is lost
    status, body = post_url(client, raw, 'text/plain; charset="UTF-16BE"', X_Kannel_Coding="2")
    assert (status, body[:23]) == (200, "Perintah tidak dikenal.")
    with gateway.engine.connect() as conn:
        from sqlalchemy import text as sql

        stored = conn.execute(sql("SELECT body FROM messages WHERE direction = 'in'")).scalar_one()
    assert stored == text.replace(VALID_NIK, mask_nik(VALID_NIK))


def test_post_url_8bit_data_gets_the_unreadable_reply(
    client: FlaskClient, gateway: Gateway
) -> None:
    status, body = post_url(
        client, b"\x00\x01\xff", "application/octet-stream", X_Kannel_Coding="1"
    )
    assert (status, body[:31]) == (200, "Maaf, pesan Anda tidak terbaca.")
    assert messages(gateway) == 0


def test_post_url_fields_missing_from_headers_come_from_the_query_string(
    client: FlaskClient, gateway: Gateway
) -> None:
    # send-sender = false: no X-Kannel-From, so the post-url names it as from=%p.
    status, body = post_url(
        client,
        DAFTAR.encode(),
        query_string=f"key={SECRET}&from=6281234567890&id=q1",
        X_Kannel_From="",
    )
    assert (status, body[:26]) == (200, "Terdaftar! Antrean PMK-001")
    # A header wins over the query string: it describes this very body.
    status, body = post_url(
        client,
        "CEK".encode("utf-16-be"),
        'text/plain; charset="UTF-16BE"',
        query_string=f"key={SECRET}&from=6289999999999&charset=UTF-8&coding=0&id=q2",
        X_Kannel_Coding="2",
    )
    assert (status, body[:20]) == (200, "Antrean Anda PMK-001")
    # Without the header and the parameter, the sender is missing.
    status, body = post_url(client, b"CEK", X_Kannel_From="")
    assert (status, body) == (400, "missing parameter(s): from\n")


@pytest.mark.parametrize(
    ("query_string", "content_type", "status", "body"),
    [
        ("id=k1", "text/plain", 403, "invalid or missing key\n"),
        ("key=not-the-secret-at-all&id=k2", "text/plain", 403, "invalid or missing key\n"),
        (f"key={SECRET}&id=k3", "multipart/form-data; boundary=x", 400, "unsupported Content-Type"),
        (f"key={SECRET}&id=k4", "application/json", 400, "unsupported Content-Type"),
        (f"key={SECRET}&id={'x' * 65}", "text/plain", 400, "id must be at most 64 printable"),
        (f"key={SECRET}&id=k5", "text/plain; charset*=UTF-8''%E2%82%AC", 400, "charset is not"),
    ],
    ids=["no-key", "wrong-key", "multipart", "json", "long-id", "non-ascii-charset"],
)
def test_post_url_refusals_change_nothing(
    client: FlaskClient,
    gateway: Gateway,
    query_string: str,
    content_type: str,
    status: int,
    body: str,
) -> None:
    got = post_url(client, DAFTAR.encode(), content_type, query_string=query_string)
    assert got[0] == status
    assert got[1].startswith(body)
    assert messages(gateway) == 0


def test_a_duplicate_delivery_with_the_same_id_gets_the_same_reply(
    client: FlaskClient, gateway: Gateway
) -> None:
    first = client.get("/sms/kannel?" + query(**BASE)).get_data(as_text=True)
    again = client.get("/sms/kannel?" + query(**BASE)).get_data(as_text=True)
    assert again == first
    assert bookings(gateway) == 1
    assert messages(gateway) == 2


def test_the_to_number_chooses_the_office(client: FlaskClient) -> None:
    body = client.get("/sms/kannel?" + query(**BASE | {"to": "081330000002"})).get_data(
        as_text=True
    )
    assert "Kantor Imigrasi Malang" in body


def test_an_internal_failure_is_an_apology_never_a_5xx(
    client: FlaskClient, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(message: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(gateway.inbox, "handle", broken)
    response = client.get("/sms/kannel?" + query(**BASE))
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("Maaf, sistem sedang gangguan")


def test_twilio_is_refused_on_a_kannel_only_gateway(client: FlaskClient) -> None:
    response = client.post(
        "/sms/twilio",
        data={"From": "+6281234567890", "To": "1", "Body": "CEK", "MessageSid": "SM1"},
    )
    assert response.status_code == 403


def test_no_credentials_at_all_refuses_to_build_the_app(tmp_path: Path, db_url: str) -> None:
    settings = load_settings(write_config(tmp_path, db_url, twilio=""), env={})
    with pytest.raises(ConfigError, match="no transport is configured"):
        create_app(settings, gateway=None)


def test_loopback_trial_accepts_kannel_without_a_key(
    tmp_path: Path, db_url: str, clock: Clock
) -> None:
    settings = load_settings(write_config(tmp_path, db_url, twilio=""), env={})
    gateway = Gateway(settings, clock=clock)
    try:
        app = create_app(settings, gateway=gateway, allow_unsigned=True)
        response = app.test_client().get("/sms/kannel?" + query(**_without("key")))
        assert response.get_data(as_text=True).startswith("Terdaftar!")
    finally:
        gateway.close()


# -- delivery reports --------------------------------------------------------------------


def _outbound(gateway: Gateway) -> int:
    with gateway.sessions.begin() as session:
        message = Message(
            direction=Direction.OUT,
            transport="kannel",
            phone="+6281234567890",
            body="Halo",
            created_at=gateway.clock(),
            status=SendStatus.SENT,
        )
        session.add(message)
    return message.id


def _dlr(client: FlaskClient, **params: str) -> tuple[int, str]:
    response = client.get("/sms/kannel/dlr?" + urlencode(params))
    return response.status_code, response.get_data(as_text=True).strip()


def test_delivery_reports_are_recorded_and_a_late_intermediate_one_does_not_win(
    client: FlaskClient, gateway: Gateway
) -> None:
    message_id = str(_outbound(gateway))
    assert _dlr(client, key=SECRET, msgid=message_id, status="1", answer="id:1 stat:DELIVRD") == (
        200,
        "delivered",
    )
    assert _dlr(client, key=SECRET, msgid=message_id, status="8", answer="ACK/") == (
        200,
        "delivered",
    )
    with gateway.engine.connect() as conn:
        from sqlalchemy import text

        assert (
            conn.execute(text("SELECT delivery_status FROM messages")).scalar_one() == "delivered"
        )
        rows = conn.execute(
            text("SELECT code, status, detail FROM delivery_reports ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "delivered", "id:1 stat:DELIVRD"),
        (8, "accepted", "ACK/"),
    ]


def test_simultaneous_delivery_reports_never_lose_the_final_one(gateway: Gateway) -> None:
    # Kannel sends "SMSC accepted" (8) and "delivered" (1) at the same moment; without a
    # row lock the intermediate one can overwrite the final one (seen with real Kannel).
    import threading

    for _ in range(10):
        message_id = _outbound(gateway)
        barrier = threading.Barrier(2)

        def report(
            code: int, message_id: int = message_id, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            gateway.outbound.record_delivery(
                "kannel", KANNEL_DLR[code], message_id=message_id, code=code
            )

        threads = [threading.Thread(target=report, args=(code,)) for code in (1, 8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with gateway.engine.connect() as conn:
            from sqlalchemy import text

            status = conn.execute(
                text("SELECT delivery_status FROM messages WHERE id = :id"), {"id": message_id}
            ).scalar_one()
        assert status == "delivered"


@pytest.mark.parametrize(
    ("params", "status", "body"),
    [
        ({"msgid": "1", "status": "1"}, 403, "invalid or missing key"),
        ({"key": "wrong-secret-000000", "msgid": "1", "status": "1"}, 403, "invalid or missing"),
        ({"key": SECRET, "status": "1"}, 400, "msgid and status must be whole numbers"),
        ({"key": SECRET, "msgid": "x", "status": "1"}, 400, "msgid and status must be whole"),
        ({"key": SECRET, "msgid": "1", "status": "%d"}, 400, "msgid and status must be whole"),
        ({"key": SECRET, "msgid": "1", "status": "3"}, 400, "unknown status 3"),
        ({"key": SECRET, "msgid": "999", "status": "1"}, 200, "unknown message"),
    ],
)
def test_bad_delivery_reports_change_nothing(
    client: FlaskClient, gateway: Gateway, params: dict[str, str], status: int, body: str
) -> None:
    _outbound(gateway)
    assert _dlr(client, **params) == (status, body) or _dlr(client, **params)[1].startswith(body)
    assert count(gateway, "SELECT count(*) FROM delivery_reports") == 0
    assert count(gateway, "SELECT count(*) FROM messages WHERE delivery_status IS NOT NULL") == 0


@pytest.mark.parametrize(
    ("raw", "coding", "charset", "text"),
    [
        (b"CEK", "0", "UTF-8", "CEK"),
        ("Cek ñ".encode(), "", "", "Cek ñ"),
        ("Cek ñ".encode("utf-16-be"), "2", "UTF-16BE", "Cek ñ"),
        ("Cek ñ".encode("utf-16-be"), "2", "UCS-2", "Cek ñ"),
        ("Cek ñ".encode("cp1252"), "0", "WINDOWS-1252", "Cek ñ"),
        ("Cek ñ".encode("latin-1"), "0", "ISO-8859-1", "Cek ñ"),
    ],
)
def test_decode_text(raw: bytes, coding: str, charset: str, text: str) -> None:
    assert decode_text(raw, coding, charset) == text


@pytest.mark.parametrize(
    ("raw", "coding", "charset", "error"),
    [
        (b"\xff", "0", "UTF-8", BadRequest),
        (b"\x00", "2", "UTF-16BE", BadRequest),
        (b"CEK", "0", "nonsense", BadRequest),
        (b"CEK", "0", "base64", BadRequest),
        (b"CEK", "1", "", Unreadable),
        (b"CEK", "1", "base64", Unreadable),
        (b"CEK", "0", "binary", Unreadable),
    ],
)
def test_decode_text_refuses_what_it_cannot_read(
    raw: bytes, coding: str, charset: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        decode_text(raw, coding, charset)


# -- a database outage -------------------------------------------------------------------


def test_a_database_outage_is_an_honest_503_that_providers_retry(
    client: FlaskClient, gateway: Gateway
) -> None:
    with database_down(gateway):
        inbound = client.get("/sms/kannel?" + query(**BASE))
        assert (inbound.status_code, inbound.headers["Retry-After"]) == (503, "5")
        dlr = client.get(
            "/sms/kannel/dlr?" + urlencode({"key": SECRET, "msgid": "1", "status": "1"})
        )
        assert dlr.status_code == 503
    # Back up: the very same delivery is handled normally, once.
    assert (
        client.get("/sms/kannel?" + query(**BASE))
        .get_data(as_text=True)
        .startswith("Terdaftar! Antrean PMK-001")
    )
    assert bookings(gateway) == 1
