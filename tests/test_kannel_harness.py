"""Tests of the Kannel harness against the real Kannel and a tiny stand-in HTTP app.

Skipped when Kannel is not installed, unless SMS_GATEWAY_REQUIRE_KANNEL=1, where
they fail. The stand-in plays the gateway: GET /sms/kannel answers
``"OK " + text`` (or a canned answer per sender), GET /sms/kannel/dlr records
delivery reports, POST /sms/kannel/post answers ``"OK " + body`` (or the
canned answer for its X-Kannel-From).
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

import tests.kannel_harness as harness_module
from tests.kannel_harness import (
    MT,
    KannelError,
    KannelHarness,
    deploy_sms_service,
    get_url_request_line,
    http_get,
    kannel_url_encode,
    parse_mt,
    require_kannel,
    running_kannel,
)

KEY = "SECRET-test-key"
SHORT_CODE = "1234"
# The service URL the gateway's deploy config uses, pointed at the stand-in.
GET_PATH = "/sms/kannel?key=" + KEY + "&from=%p&to=%P&text=%a&id=%I&coding=%c&charset=%C"


@pytest.fixture(scope="module", autouse=True)
def _kannel_installed() -> None:
    require_kannel()


# -- the stand-in app ----------------------------------------------------------------------


@dataclass
class Call:
    """One HTTP request the stand-in received."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str) -> str | None:
        """Return a query parameter decoded as UTF-8 (what most frameworks do)."""
        values = urllib.parse.parse_qs(self.raw_query, keep_blank_values=True).get(name)
        return values[0] if values else None

    def raw_arg(self, name: str) -> str | None:
        """Return a query parameter exactly as sent, still percent-encoded."""
        match = re.search(rf"(?:^|&){re.escape(name)}=([^&]*)", self.raw_query)
        return match.group(1) if match else None


@dataclass
class StandIn:
    """A stdlib HTTP server that records requests and answers like the gateway would."""

    server: ThreadingHTTPServer | None = None
    calls: list[Call] = field(default_factory=list)
    # Canned (status, body) answers to /sms/kannel by the MO's sender.
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path_and_query: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path_and_query}"

    def record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def wait_call(self, predicate: Callable[[Call], bool], timeout: float = 15) -> Call:
        """Return the first recorded call matching ``predicate``, waiting for it."""
        found: list[Call] = []

        def match() -> bool:
            found[:] = [c for c in self.calls if predicate(c)]
            return bool(found)

        with self._cond:
            if not self._cond.wait_for(match, timeout):
                seen = "\n".join(f"  {c.method} {c.path}?{c.raw_query}" for c in self.calls)
                raise TimeoutError(f"no matching request within {timeout}s; got:\n{seen}")
        return found[0]

    def calls_from(self, sender: str) -> list[Call]:
        with self._cond:
            return [c for c in self.calls if c.path == "/sms/kannel" and c.arg("from") == sender]


def _handler(app: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _record(self, body: bytes = b"") -> Call:
            path, _, query = self.path.partition("?")
            call = Call(self.command, path, query, dict(self.headers.items()), body)
            app.record(call)
            return call

        def do_GET(self) -> None:
            call = self._record()
            if call.path == "/sms/kannel":
                sender = call.arg("from") or ""
                default = (200, "OK " + (call.arg("text") or ""))
                self._answer(*app.answers.get(sender, default))
            elif call.path == "/sms/kannel/dlr":
                self._answer(200, "")
            else:
                self._answer(404, "not found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            call = self._record(self.rfile.read(length))
            if call.path == "/sms/kannel/post":
                default = (200, "OK " + call.body.decode("utf-8", "replace"))
                self._answer(*app.answers.get(call.headers.get("X-Kannel-From", ""), default))
            else:
                self._answer(404, "not found")

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean; calls are recorded instead

    return Handler


@pytest.fixture(scope="module")
def app() -> Iterator[StandIn]:
    stand_in = StandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stand_in))
    server.daemon_threads = True
    stand_in.server = server
    thread = threading.Thread(target=server.serve_forever, name="stand-in", daemon=True)
    thread.start()
    yield stand_in
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def kannel(app: StandIn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelHarness]:
    """One Kannel for the module; each test uses its own sender number to stay apart."""
    with running_kannel(tmp_path_factory.mktemp("kannel"), get_url=app.url(GET_PATH)) as k:
        yield k


def to(number: str) -> Callable[[MT], bool]:
    return lambda mt: mt.receiver == number


# -- MO -> app -> reply --------------------------------------------------------------------


def test_mo_reaches_the_app_and_the_reply_returns_as_mt(kannel: KannelHarness, app: StandIn):
    sender = "6281200000001"
    kannel.send_mo(sender, SHORT_CODE, "DAFTAR 3528011505900001 28-11-2026 PAGI")

    call = app.wait_call(lambda c: c.path == "/sms/kannel" and c.arg("from") == sender)
    assert call.arg("key") == KEY
    assert call.arg("to") == SHORT_CODE
    assert call.arg("text") == "DAFTAR 3528011505900001 28-11-2026 PAGI"
    assert call.arg("coding") == "0"
    assert call.arg("charset") == "UTF-8"
    uuid.UUID(call.arg("id") or "")  # %I is Kannel's message UUID

    mt = kannel.wait_mt(predicate=to(sender))
    assert (mt.sender, mt.receiver, mt.kind) == (SHORT_CODE, sender, "text")
    assert mt.text == "OK DAFTAR 3528011505900001 28-11-2026 PAGI", kannel.logs()


def test_percent_a_squeezes_runs_of_spaces(kannel: KannelHarness, app: StandIn):
    # %a is "all words": the gateway never sees double or trailing spaces.
    sender = "6281200000002"
    kannel.send_mo(sender, SHORT_CODE, "CEK   3528011505900001  ")
    call = app.wait_call(lambda c: c.arg("from") == sender)
    assert call.arg("text") == "CEK 3528011505900001"


def test_reply_with_newline_is_joined_back_into_one_mt(kannel: KannelHarness, app: StandIn):
    # Kannel writes the newline raw to fakesmsc, which prints two lines.
    sender = "6281200000003"
    app.answers[sender] = (200, "Baris satu\nBaris dua")
    kannel.send_mo(sender, SHORT_CODE, "INFO")
    mt = kannel.wait_mt(predicate=to(sender))
    assert mt.text == "Baris satu\nBaris dua"
    assert mt.raw.count("Got message") == 2


def test_long_reply_arrives_as_concatenated_parts(kannel: KannelHarness, app: StandIn):
    sender = "6281200000004"
    reply = " ".join(f"kata{i:03d}" for i in range(40))  # 319 characters
    app.answers[sender] = (200, reply)
    kannel.send_mo(sender, SHORT_CODE, "PANJANG")
    sms = kannel.wait_sms(predicate=to(sender))
    assert sms.text == reply
    parts = [m for m in kannel.received if m.receiver == sender]
    assert [(p.kind, p.concat and p.concat[1:]) for p in parts] == [
        ("udh", (3, 1)),
        ("udh", (3, 2)),
        ("udh", (3, 3)),
    ]
    assert [len(p.payload) for p in parts] == [153, 153, 13]


# -- UCS-2 ---------------------------------------------------------------------------------

# "ş" is outside GSM 03.38, so a phone sends this text as UCS-2.
UCS2_TEXT = "Cek ñ ü ş"


def test_ucs2_mo_without_mo_recode_arrives_as_raw_utf16(kannel: KannelHarness, app: StandIn):
    sender = "6281200000005"
    app.answers[sender] = (200, "")  # the garbled text is no use as a reply
    kannel.send_mo_ucs2(sender, SHORT_CODE, UCS2_TEXT)

    call = app.wait_call(lambda c: c.arg("from") == sender)
    assert call.arg("coding") == "2"
    assert call.arg("charset") == "UTF-16BE"
    raw = call.raw_arg("text")
    assert raw is not None
    # Kannel percent-encodes the UTF-16BE bytes, with "+" for the 0x20 byte.
    assert urllib.parse.unquote_to_bytes(raw.replace("+", " ")).decode("utf-16-be") == UCS2_TEXT
    # What Flask's request.args would give: UTF-8 decoding mangles it.
    args = Request(EnvironBuilder(query_string=call.raw_query).get_environ()).args
    assert args["text"] != UCS2_TEXT
    assert "\x00" in args["text"]


def test_ucs2_mo_with_mo_recode_arrives_as_utf8(app: StandIn, tmp_path: Path):
    sender = "6281200000006"
    with running_kannel(tmp_path, get_url=app.url(GET_PATH), mo_recode=True) as k:
        k.send_mo_ucs2(sender, SHORT_CODE, UCS2_TEXT)
        call = app.wait_call(lambda c: c.arg("from") == sender)
        assert call.arg("coding") == "0"
        assert call.arg("charset") == "UTF-8"
        assert call.arg("text") == UCS2_TEXT
        # A text/plain reply goes out as GSM text: Kannel 1.4.5 does not switch to
        # UCS-2 for "ş" but sends "?" (replies must stay in the GSM alphabet).
        mt = k.wait_mt(predicate=to(sender))
        assert (mt.kind, mt.text) == ("text", "OK Cek ñ ü ?")


# -- no reply ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "answer"),
    [("6281200000007", (200, "")), ("6281200000008", (500, "boom"))],
    ids=["empty-200-omit-empty", "500-reply-couldnotfetch-empty"],
)
def test_no_mt_for_empty_or_failed_answer(
    kannel: KannelHarness, app: StandIn, sender: str, answer: tuple[int, str]
):
    app.answers[sender] = answer
    kannel.send_mo(sender, SHORT_CODE, "BATAL")
    app.wait_call(lambda c: c.arg("from") == sender)
    kannel.assert_no_mt(within=3, predicate=to(sender))
    # http-request-retry is 0: Kannel asked once and gave up.
    assert len(app.calls_from(sender)) == 1


# -- sendsms and DLR -----------------------------------------------------------------------


def test_sendsms_delivers_and_reports(kannel: KannelHarness, app: StandIn):
    handset = "6281200000009"
    dlr_url = app.url("/sms/kannel/dlr?msgid=42&status=%d&answer=%A&to=%p")
    query = urllib.parse.urlencode(
        {
            "username": kannel.username,
            "password": kannel.password,
            "from": SHORT_CODE,
            "to": handset,
            "text": "Jadwal besok jam 10",
            "dlr-mask": 31,
            "dlr-url": dlr_url,  # urlencode escapes it, as Kannel requires
        }
    )
    assert http_get(f"{kannel.sendsms_url}?{query}") == (202, "0: Accepted for delivery")

    mt = kannel.wait_mt(predicate=to(handset))
    assert (mt.sender, mt.text) == (SHORT_CODE, "Jadwal besok jam 10")

    def dlr(status: str) -> Callable[[Call], bool]:
        return lambda c: c.path == "/sms/kannel/dlr" and c.arg("status") == status

    smsc_ack = app.wait_call(dlr("8"))
    delivered = app.wait_call(dlr("1"))
    assert smsc_ack.arg("msgid") == delivered.arg("msgid") == "42"
    assert smsc_ack.arg("answer") == "ACK/"
    assert delivered.arg("to") == handset  # %p in a DLR URL is the handset


def test_sendsms_wrong_password_is_refused(kannel: KannelHarness):
    query = urllib.parse.urlencode(
        {"username": kannel.username, "password": "wrong", "to": "6281200000010", "text": "x"}
    )
    assert http_get(f"{kannel.sendsms_url}?{query}") == (403, "Authorization failed for sendsms")


def test_send_sms_helper(kannel: KannelHarness):
    handset = "6281200000011"
    assert kannel.send_sms(handset, "Halo", sender=SHORT_CODE) == (
        202,
        "0: Accepted for delivery",
    )
    assert kannel.wait_mt(predicate=to(handset)).text == "Halo"


# -- post-url ------------------------------------------------------------------------------


def test_post_url_service_sends_text_and_sender_header(app: StandIn, tmp_path: Path):
    sender = "6281200000012"
    with running_kannel(tmp_path, post_url=app.url("/sms/kannel/post")) as k:
        k.send_mo(sender, SHORT_CODE, "CEK 3528011505900001")
        call = app.wait_call(
            lambda c: c.method == "POST" and c.headers.get("X-Kannel-From") == sender
        )
        assert call.body == b"CEK 3528011505900001"
        assert call.headers["X-Kannel-To"] == SHORT_CODE
        assert k.wait_mt(predicate=to(sender)).text == "OK CEK 3528011505900001"


# What the gateway's post-url parsing relies on, per coding and mo-recode: the
# Content-Type (with the charset quoted), X-Kannel-Coding, and %I in the URL.
POST_URL_CASES = [
    # (mo_recode, send UCS-2?, Content-Type, X-Kannel-Coding, body encoding)
    (False, False, 'text/plain; charset="UTF-8"', "0", "utf-8"),
    (False, True, 'text/plain; charset="UTF-16BE"', "2", "utf-16-be"),
    (True, True, 'text/plain; charset="UTF-8"', "0", "utf-8"),
]


@pytest.mark.parametrize(
    ("mo_recode", "ucs2", "content_type", "coding", "encoding"),
    POST_URL_CASES,
    ids=["gsm-text", "ucs2-raw", "ucs2-mo-recode"],
)
def test_post_url_headers_per_coding(
    app: StandIn,
    tmp_path: Path,
    mo_recode: bool,
    ucs2: bool,
    content_type: str,
    coding: str,
    encoding: str,
):
    sender = f"62812000001{20 + len(app.calls) % 80:02d}"
    app.answers[sender] = (200, "")  # no reply needed: the request is what is checked
    text = UCS2_TEXT if ucs2 else "CEK 3528011505900001"
    url = app.url(f"/sms/kannel/post?key={KEY}&id=%I")
    with running_kannel(tmp_path, post_url=url, mo_recode=mo_recode) as k:
        if ucs2:
            k.send_mo_ucs2(sender, SHORT_CODE, text)
        else:
            k.send_mo(sender, SHORT_CODE, text)
        call = app.wait_call(lambda c: c.headers.get("X-Kannel-From") == sender)
    assert call.headers["Content-Type"] == content_type
    assert call.headers["X-Kannel-Coding"] == coding
    assert call.headers["X-Kannel-To"] == SHORT_CODE
    assert call.headers["X-Kannel-SMSC"] == harness_module.SMSC_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", call.headers["X-Kannel-Time"])
    assert call.body.decode(encoding) == text
    assert call.arg("key") == KEY
    uuid.UUID(call.arg("id") or "")  # %I is expanded in a post-url too


# -- the harness itself --------------------------------------------------------------------


def test_stop_leaves_no_process_behind(app: StandIn, tmp_path: Path):
    harness = KannelHarness(tmp_path, get_url=app.url(GET_PATH))
    harness.start()
    procs = dict(harness._procs)
    assert set(procs) == {"bearerbox", "smsbox", "fakesmsc"}
    harness.stop()
    harness.stop()  # idempotent

    assert all(p.poll() is not None for p in procs.values())
    assert procs["bearerbox"].returncode == 0  # a clean shutdown, not a SIGKILL
    found = subprocess.run(
        ["pgrep", "-f", str(harness.config_path)], capture_output=True, text=True, check=False
    )
    assert found.stdout == "", found.stdout
    assert not harness.running
    assert not any(harness_module._is_listening(port) for port in harness.ports.values())


def test_a_long_mo_goes_out_whole_through_a_one_shot_fakesmsc(kannel: KannelHarness, app: StandIn):
    # Longer than interactive fakesmsc's line buffer, which would split it in two.
    sender, later = "6281200000013", "6281200000014"
    text = " ".join(f"kata{i:03d}" for i in range(40))
    app.answers[sender] = (200, "Diterima")
    kannel.send_mo(sender, SHORT_CODE, text)
    call = app.wait_call(lambda c: c.arg("from") == sender)
    assert call.arg("text") == text
    assert kannel.wait_mt(predicate=to(sender)).text == "Diterima"
    assert len(app.calls_from(sender)) == 1  # one message, not two halves
    # The next short MO goes through the interactive fakesmsc again, and so does its reply.
    kannel.send_mo(later, SHORT_CODE, "CEK")
    assert kannel.wait_mt(predicate=to(later)).text == "OK CEK"
    assert kannel._procs["fakesmsc"].stdin is not None


def test_a_long_ucs2_mo_arrives_as_its_exact_bytes(kannel: KannelHarness, app: StandIn):
    sender = "6281200000015"
    app.answers[sender] = (200, "")
    # 439 characters, 2 kB URL-encoded: a 254-byte fakesmsc line holds far less.
    # No trailing space, which %a would drop.
    text = " ".join(["Halo \u0645\u0627\u0633 \U0001f64f"] * 40)
    kannel.send_mo_ucs2(sender, SHORT_CODE, text)
    call = app.wait_call(lambda c: c.arg("from") == sender)
    raw = call.raw_arg("text")
    assert raw is not None
    assert raw == kannel_url_encode(text.encode("utf-16-be"))  # Kannel's own %b encoding
    assert harness_module._url_bytes(raw).decode("utf-16-be") == text


def test_mo_with_a_newline_is_refused(kannel: KannelHarness):
    with pytest.raises(ValueError, match="newline"):
        kannel.send_mo("6281200000013", SHORT_CODE, "a\nb")


def test_get_url_request_line_is_what_smsbox_sends(kannel: KannelHarness, app: StandIn):
    sender = "6281200000016"
    app.answers[sender] = (200, "")
    kannel.send_mo_ucs2(sender, SHORT_CODE, UCS2_TEXT)
    call = app.wait_call(lambda c: c.arg("from") == sender)
    template = app.url(GET_PATH)
    fields = {
        "%p": sender.encode(),
        "%P": SHORT_CODE.encode(),
        "%a": UCS2_TEXT.encode("utf-16-be"),
        "%I": (call.arg("id") or "").encode(),
        "%c": b"2",
        "%C": b"UTF-16BE",
    }
    assert get_url_request_line(template, fields) == f"GET {call.path}?{call.raw_query} HTTP/1.1"


def test_deploy_sms_service_reads_one_group(tmp_path: Path):
    conf = tmp_path / "kannel.conf"
    conf.write_text(
        "group = core\nadmin-port = 13000\n\n"
        "group = sms-service\n# a comment\nkeyword = default\n"
        'post-url = "http://127.0.0.1:8000/sms/kannel?key=K&id=%I"\nsend-sender = true\n'
        "\nlog-level = 1\n",
        encoding="utf-8",
    )
    assert deploy_sms_service(conf) == {
        "group": "sms-service",
        "keyword": "default",
        "post-url": "http://127.0.0.1:8000/sms/kannel?key=K&id=%I",
        "send-sender": "true",
    }
    conf.write_text("group = core\n", encoding="utf-8")
    with pytest.raises(ValueError, match="one sms-service group"):
        deploy_sms_service(conf)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("1234 628 text OK  two  spaces", ("text", "OK  two  spaces", b"")),
        ("1234 628 ucs-2 %00C%00e%00k%00+%01_", ("ucs-2", "Cek ş", b"")),
        ("1234 628 data %C3%B1+x", ("data", "ñ x", b"")),
        ("1234 628 udh %05%00%03%07%02%01 data ab+c", ("udh", "ab c", b"\x05\x00\x03\x07\x02\x01")),
    ],
)
def test_parse_mt_kinds(body: str, expected: tuple[str, str, bytes]):
    mt = parse_mt(body)
    assert mt is not None
    assert (mt.sender, mt.receiver) == ("1234", "628")
    assert (mt.kind, mt.text, mt.udh) == expected


def test_parse_mt_rejects_continuation_lines():
    assert parse_mt("Baris dua") is None
    assert parse_mt("baris2  x") is None
    assert parse_mt("1234 628 udh %05 nodata") is None


def test_start_retries_with_new_ports_when_one_was_taken(
    app: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    real_free_ports = harness_module._free_ports
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([[busy, *real_free_ports(3)]])
        monkeypatch.setattr(
            harness_module, "_free_ports", lambda n: next(picks, None) or real_free_ports(n)
        )
        with running_kannel(tmp_path, get_url=app.url(GET_PATH)) as k:
            assert k.ports["admin"] != busy
            # The first attempt's bind error is still in the (appended) log file.
            assert "Address already in use" in (tmp_path / "bearerbox.log").read_text()


def test_start_failure_raises_with_logs_and_cleans_up(
    app: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    harness = KannelHarness(tmp_path, get_url=app.url(GET_PATH))
    monkeypatch.setattr(harness, "config_text", lambda: "group = core\nno-such-variable = 1\n")
    with pytest.raises(KannelError, match="bearerbox exited") as failure:
        harness.start(timeout=10)
    # The error carries the logs, here bearerbox's complaint about the config.
    assert "no-such-variable" in str(failure.value)
    assert not harness.running
