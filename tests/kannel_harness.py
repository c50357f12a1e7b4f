"""Run the real Kannel (bearerbox + smsbox + fakesmsc) for end-to-end tests.

The harness writes a loopback-only ``kannel.conf`` into a work directory, starts
bearerbox, smsbox and one interactive ``fakesmsc`` (the fake phone network),
and lets a test inject MO messages and read the MT messages Kannel sends out::

    with running_kannel(tmp_path, get_url="http://127.0.0.1:5123/sms/kannel?text=%a") as k:
        k.send_mo("6281234567890", "1234", "DAFTAR 3528011505900001")
        mt = k.wait_mt(predicate=lambda m: m.receiver == "6281234567890")

Verified against the Debian 1.4.5 packages (``kannel`` + ``kannel-extras``).
Things about ``fakesmsc`` that shaped the code (seen by running it; the why from its source):

* Interactive mode reads stdin with ``fgets`` into a 256-byte buffer after a
  ``select`` on the descriptor. Lines that arrive together are partly left in
  stdio's buffer and only sent when *more* input arrives, so ``send_mo`` writes
  one line and waits for fakesmsc's ``sent message N`` before returning. A line
  of 255 bytes or more would be split into several messages, so ``send_mo``
  sends such a line (a long UCS-2 text is 4 to 12 bytes a character once
  URL-encoded) through a one-shot fakesmsc instead: one given the line as its
  argument, which has no length limit. The fake SMSC serves one client at a
  time, so the interactive fakesmsc is stopped first; the one-shot one sends
  the line as it connects, then stays connected and prints the MTs like the
  interactive one, until the next short line brings the interactive one back.
  An MT Kannel is writing at the moment of such a swap can be lost, so wait
  for the reply to a long MO before sending the next one.
* MT lines are printed only at debug level (``-v 0``) as
  ``Got message N: <sender receiver kind ...>`` with ``kind`` one of
  ``text`` (raw text, UTF-8), ``data`` (URL-encoded 8-bit), ``ucs-2``
  (URL-encoded UTF-16BE) or ``udh <udh> data <data>`` (a concatenated part;
  the line does not say whether the part is GSM text or UCS-2).
* A newline inside a text MT is written raw, so fakesmsc prints the rest as a
  further ``Got message`` line; ``wait_mt`` joins such continuation lines.
* In interactive mode MT lines are read at least once a second (its stdin
  ``select`` timeout), so an MT shows up with up to about one second of delay.
* End of input on its stdin makes it exit at once, so the stdin pipe is held
  open for the whole run and closed only after SIGTERM.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import re
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.processes import LOOPBACK, stop_process

# Module names of their own: tests look a port up and swap the port picker here.
from bench.processes import free_ports as _free_ports
from bench.processes import is_listening as _is_listening
from tests.skips import skip_or_fail

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
KANNEL_BINARIES = (BEARERBOX, SMSBOX, FAKESMSC)
# The production config the project ships (its sms-service is read by deploy_sms_service).
DEPLOY_CONF = Path(__file__).resolve().parent.parent / "deploy" / "kannel" / "kannel.conf"

REQUIRE_ENV = "SMS_GATEWAY_REQUIRE_KANNEL"
SMSC_ID = "FAKE"

# fakesmsc reads stdin with fgets(buffer, 256): the line plus "\n" must fit in 255 bytes.
MAX_MO_LINE_BYTES = 254
# How long wait_mt listens for the continuation of a text MT that contained a newline;
# both halves are printed by fakesmsc in the same loop, so this is generous.
CONTINUATION_GRACE = 0.3
STOP_GRACE = 5.0

# gunicorn's default limit_request_line: a longer request line is answered 414 before
# the app sees it (deploy/gunicorn.conf.py keeps the default).
GUNICORN_REQUEST_LINE_LIMIT = 4094
# What Kannel's octstr_url_encode leaves as it is (RFC 2396 "unreserved"; space is "+").
_KANNEL_URL_SAFE = "!*'()"  # plus letters, digits and "-_.~", which quote_plus keeps anyway

_GOT_MESSAGE = re.compile(r"Got message (\d+): <(.*)>$")
_SENT_MESSAGE = re.compile(r"fakesmsc: sent message (\d+)$")
_MT_KINDS = ("text", "data", "ucs-2", "udh")
_PORT_CLASH = "Address already in use"


def kannel_available() -> str | None:
    """Return None when the Kannel binaries exist, else a reason for pytest.skip."""
    missing = [path for path in KANNEL_BINARIES if not os.access(path, os.X_OK)]
    if not missing:
        return None
    return (
        f"Kannel is not installed (missing {', '.join(missing)}); "
        "install it with: apt-get install kannel kannel-extras"
    )


def require_kannel() -> None:
    """Skip the calling test without Kannel; fail instead when SMS_GATEWAY_REQUIRE_KANNEL=1."""
    skip_or_fail(kannel_available(), REQUIRE_ENV)


class KannelError(RuntimeError):
    """Kannel did not start or did not behave; the message carries the logs."""


class _PortClash(KannelError):
    """A port picked as free was taken before Kannel bound it; retry with new ports."""


# -- MT messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MT:
    """A message Kannel sent out to the fake phone network (one fakesmsc line)."""

    sender: str
    receiver: str
    text: str
    raw: str  # the fakesmsc output line(s) this MT was parsed from
    kind: str = "text"  # "text", "data", "ucs-2" or "udh", as fakesmsc prints it
    udh: bytes = b""  # user data header of a concatenated part
    payload: bytes = b""  # the message bytes: UTF-8 for text, decoded URL data otherwise

    @property
    def concat(self) -> tuple[int, int, int] | None:
        """Return (reference, total, sequence) for a concatenated part, else None."""
        udh = self.udh
        i = 1  # udh[0] is the header length
        while i + 1 < len(udh):
            iei, length = udh[i], udh[i + 1]
            data = udh[i + 2 : i + 2 + length]
            if iei == 0x00 and length == 3:
                return data[0], data[1], data[2]
            if iei == 0x08 and length == 4:
                return (data[0] << 8) | data[1], data[2], data[3]
            i += 2 + length
        return None


def _url_bytes(value: str) -> bytes:
    """Decode Kannel's URL encoding (space as '+') to bytes."""
    return urllib.parse.unquote_to_bytes(value.replace("+", " "))


def kannel_url_encode(data: bytes) -> str:
    """URL-encode bytes exactly as Kannel's ``%b`` does (``octstr_url_encode``)."""
    return urllib.parse.quote_plus(data, safe=_KANNEL_URL_SAFE)


def get_url_request_line(template: str, fields: dict[str, bytes]) -> str:
    """Return the request line smsbox sends for a get-url ``template`` and an MO's fields.

    ``fields`` maps Kannel's escape codes (``"%b"``, ``"%p"``...) to the raw bytes they
    stand for; each is URL-encoded as Kannel does. Used to show that a message is too
    long for a get-url (``GUNICORN_REQUEST_LINE_LIMIT``).
    """
    url = template
    for code, value in fields.items():
        url = url.replace(code, kannel_url_encode(value))
    parts = urllib.parse.urlsplit(url)
    return f"GET {parts.path}?{parts.query} HTTP/1.1"


def long_ucs2_text(nik: str) -> str:
    """Return an MO of 600 characters that is too long for a get-url behind gunicorn.

    Indonesian with Arabic script (Jawi) and emoji, so a phone sends it as UCS-2
    (876 code units: a 14-part SMS). Kannel URL-encodes every byte that is not a
    letter or digit, which makes the text 4.4 kB as UTF-16BE and 4.6 kB as UTF-8
    (after mo-recode), over ``GUNICORN_REQUEST_LINE_LIMIT`` either way. ``nik``
    appears once, so the stored (masked) text can be checked.
    """
    emoji = "\U0001f64f\U0001f60a\U0001f932\U0001f6c2\U0001f4d8"  # pray, smile, palms, passport
    pasport = "\u06a4\u0627\u0633\u06a4\u0648\u0631\u062a"  # "pasport" in Jawi
    terima_kasih = "\u062a\u0631\u064a\u0645\u0627 \u06a9\u0627\u0633\u064a\u0647"
    block = (
        f"{emoji}{emoji[::-1]}{emoji[:2]} {pasport} "
        f"{emoji[::-1]}{emoji}{emoji[1::2]} {terima_kasih} "
    )
    head = f"Selamat pagi Pak/Bu, saya mau daftar antrean paspor untuk NIK {nik} "
    return (head + block * 20)[:600]


def deploy_sms_service(path: Path = DEPLOY_CONF) -> dict[str, str]:
    """Return the settings of the ``sms-service`` group of a kannel.conf (quotes removed).

    Lets the end-to-end tests run Kannel with the service the project ships.
    """
    groups: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:  # a blank line ends a group in kannel.conf
            current = None
            continue
        if line.startswith("#") or "=" not in line:
            continue
        name, _, value = (part.strip() for part in line.partition("="))
        value = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
        if name == "group":
            current = {"group": value}
            groups.append(current)
        elif current is not None:
            current[name] = value
    services = [g for g in groups if g["group"] == "sms-service"]
    if len(services) != 1:
        raise ValueError(f"{path}: expected one sms-service group, found {len(services)}")
    return services[0]


def parse_mt(body: str, raw: str | None = None) -> MT | None:
    """Parse the part between ``<`` and ``>`` of a fakesmsc ``Got message`` line.

    Return None when the body is not ``sender receiver kind ...`` (for example the
    continuation of a text that contained a newline).
    """
    parts = body.split(" ", 3)
    if len(parts) != 4 or not parts[0] or not parts[1] or parts[2] not in _MT_KINDS:
        return None
    sender, receiver, kind, rest = parts
    raw = body if raw is None else raw
    if kind == "text":
        return MT(sender, receiver, rest, raw, kind, b"", rest.encode("utf-8"))
    if kind == "ucs-2":
        payload = _url_bytes(rest)
        return MT(sender, receiver, payload.decode("utf-16-be", "replace"), raw, kind, b"", payload)
    if kind == "data":
        payload = _url_bytes(rest)
        return MT(sender, receiver, payload.decode("utf-8", "replace"), raw, kind, b"", payload)
    udh_part = rest.split(" ", 2)  # "<udh> data <data>"
    if len(udh_part) != 3 or udh_part[1] != "data":
        return None
    udh, payload = _url_bytes(udh_part[0]), _url_bytes(udh_part[2])
    # The line does not carry the coding: GSM text parts are UTF-8 here, UCS-2
    # parts UTF-16BE; decode as UTF-8 and let callers use ``payload`` for UCS-2.
    return MT(sender, receiver, payload.decode("utf-8", "replace"), raw, kind, udh, payload)


def join_parts(parts: list[MT], encoding: str = "utf-8") -> MT:
    """Join the parts of one concatenated message (in any order) into one MT."""
    ordered = sorted(parts, key=lambda p: (p.concat or (0, 0, 0))[2])
    payload = b"".join(p.payload for p in ordered)
    first = ordered[0]
    return MT(
        first.sender,
        first.receiver,
        payload.decode(encoding, "replace"),
        "\n".join(p.raw for p in ordered),
        first.kind,
        b"",
        payload,
    )


# -- helpers -------------------------------------------------------------------------------


def _conf_string(value: str, what: str) -> str:
    """Quote a string for kannel.conf; refuse quotes and newlines rather than escape them."""
    if any(c in value for c in '"\r\n'):
        raise ValueError(f"{what} must not contain quotes or newlines: {value!r}")
    return f'"{value}"'


def _tail(text: str, lines: int | None) -> str:
    if lines is None:
        return text
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)


# Harnesses still running; stopped at interpreter exit so an aborted run leaves no Kannel.
_LIVE: weakref.WeakSet[KannelHarness] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for harness in list(_LIVE):
        harness.stop()


# -- the harness ---------------------------------------------------------------------------


class KannelHarness:
    """bearerbox + smsbox + one interactive fakesmsc, on free loopback ports, in a temp dir.

    ``get_url`` (or ``post_url``) is the default sms-service's URL template, e.g.
    ``http://127.0.0.1:5123/sms/kannel?key=S&from=%p&to=%P&text=%a&id=%I&coding=%c&charset=%C``.
    ``mo_recode`` sets smsbox's ``mo-recode`` (UCS-2 MO passed on as UTF-8).
    ``dlr`` writes ``dlr-storage = internal``; Kannel 1.4.5 defaults to internal
    storage anyway, so delivery reports also work with ``dlr=False`` (checked).

    Unlike the production config (deploy/kannel/kannel.conf) replies may have 3
    concatenated parts, so a test sees an over-long reply instead of a silently
    cut one, and smsbox does not retry failed HTTP calls (a retry takes 10 s).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        get_url: str | None = None,
        post_url: str | None = None,
        mo_recode: bool = False,
        dlr: bool = True,
    ) -> None:
        if (get_url is None) == (post_url is None):
            raise ValueError("give exactly one of get_url or post_url")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "kannel.conf"
        self.get_url = get_url
        self.post_url = post_url
        self.mo_recode = mo_recode
        self.dlr = dlr
        self.username = "harness"
        self.password = secrets.token_hex(8)
        self.admin_password = secrets.token_hex(8)
        self.status_password = secrets.token_hex(8)
        self.received: list[MT] = []  # every MT wait_mt has taken, matching or not
        self._ports: dict[str, int] = {}
        self._pick_ports()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._reader: threading.Thread | None = None
        self._fs_lines: list[str] = []
        self._mt_queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._backlog: deque[tuple[str, str]] = deque()
        self._cond = threading.Condition()
        self._sent = 0  # fakesmsc's "sent message N" so far
        self._fs_eof = False
        self._mo_count = 0
        self._one_shot = False  # the running fakesmsc sent one long line and reads no stdin
        self._send_lock = threading.Lock()
        self._stop_lock = threading.Lock()

    # -- addresses -----------------------------------------------------------------------

    def _pick_ports(self) -> None:
        admin, smsbox, sendsms, fake = _free_ports(4)
        self._ports = {"admin": admin, "smsbox": smsbox, "sendsms": sendsms, "fake": fake}

    @property
    def ports(self) -> dict[str, int]:
        """The ports in use: admin, smsbox, sendsms and fake (the fake SMSC link)."""
        return dict(self._ports)

    @property
    def sendsms_url(self) -> str:
        return f"http://{LOOPBACK}:{self._ports['sendsms']}/cgi-bin/sendsms"

    @property
    def status_url(self) -> str:
        query = urllib.parse.urlencode({"password": self.status_password})
        return f"http://{LOOPBACK}:{self._ports['admin']}/status.txt?{query}"

    # -- configuration -------------------------------------------------------------------

    def config_text(self) -> str:
        """Return the kannel.conf this harness runs with."""
        wd = self.workdir.resolve()
        p = self._ports
        if self.get_url is not None:
            service_url = f"get-url = {_conf_string(self.get_url, 'get_url')}"
        else:
            assert self.post_url is not None
            # send-sender: without it a post-url service omits X-Kannel-From.
            service_url = (
                f"post-url = {_conf_string(self.post_url, 'post_url')}\nsend-sender = true"
            )
        dlr_storage = "dlr-storage = internal\n" if self.dlr else ""
        return f"""\
# Generated by tests/kannel_harness.py for one test run; loopback only.
group = core
admin-port = {p["admin"]}
admin-interface = "{LOOPBACK}"
admin-password = "{self.admin_password}"
status-password = "{self.status_password}"
# An allow list alone allows everybody (Kannel denies only what a deny list names).
admin-deny-ip = "*.*.*.*"
admin-allow-ip = "{LOOPBACK}"
smsbox-port = {p["smsbox"]}
smsbox-interface = "{LOOPBACK}"
box-deny-ip = "*.*.*.*"
box-allow-ip = "{LOOPBACK}"
log-file = "{wd}/bearerbox.log"
log-level = 0
access-log = "{wd}/access.log"
{dlr_storage}
group = smsc
smsc = fake
smsc-id = {SMSC_ID}
port = {p["fake"]}
our-host = "{LOOPBACK}"
connect-allow-ip = "{LOOPBACK}"

group = smsbox
bearerbox-host = "{LOOPBACK}"
bearerbox-port = {p["smsbox"]}
sendsms-port = {p["sendsms"]}
sendsms-interface = "{LOOPBACK}"
log-file = "{wd}/smsbox.log"
log-level = 0
access-log = "{wd}/smsbox-access.log"
mo-recode = {"true" if self.mo_recode else "false"}
# As in deploy/kannel/kannel.conf: never an English error SMS to the phone.
reply-couldnotfetch = ""
reply-emptymessage = ""
reply-couldnotrepresent = ""
reply-requestfailed = ""

group = sendsms-user
username = "{self.username}"
password = "{self.password}"
user-deny-ip = "*.*.*.*"
user-allow-ip = "{LOOPBACK}"
max-messages = 3
concatenation = true

group = sms-service
keyword = default
catch-all = true
{service_url}
max-messages = 3
concatenation = true
omit-empty = true
accept-x-kannel-headers = true
"""

    # -- start ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self._procs)

    def start(self, timeout: float = 20) -> None:
        """Start bearerbox, smsbox and fakesmsc; return once the FAKE link is online.

        When a port was taken between picking and binding ("Address already in
        use" on a Kannel console), the start is retried with fresh ports. Any
        other failure stops what was started and raises KannelError with the logs.
        """
        if self.running:
            raise KannelError("already started")
        deadline = time.monotonic() + timeout
        for attempt in range(3):
            try:
                self._start_once(deadline)
                return
            except _PortClash:
                self.stop()
                if attempt == 2:
                    raise
                self._pick_ports()
            except BaseException:
                self.stop()
                raise

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        # Console output goes to a file (not a pipe nobody drains); the child keeps its copy.
        # Truncated per attempt, so a retry does not see the previous attempt's bind error.
        with open(self.workdir / f"{name}.out", "wb") as out:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        self._procs[name] = proc
        _LIVE.add(self)
        return proc

    def _start_once(self, deadline: float) -> None:
        self.config_path.write_text(self.config_text(), encoding="utf-8")
        conf = str(self.config_path)
        p = self._ports
        # -v 2: warnings and worse on the console; the log files get everything (log-level 0).
        self._spawn("bearerbox", [BEARERBOX, "-v", "2", conf])
        self._wait_for(
            lambda: _is_listening(p["smsbox"]) and _is_listening(p["fake"]),
            "bearerbox to listen on its smsbox and fake SMSC ports",
            deadline,
        )
        self._spawn("smsbox", [SMSBOX, "-v", "2", conf])
        self._wait_for(lambda: _is_listening(p["sendsms"]), "smsbox's sendsms port", deadline)
        self._mt_queue = queue.Queue()
        self._backlog.clear()
        self._start_fakesmsc()
        self._wait_for(self._links_up, "the FAKE link online and smsbox connected", deadline)

    def _start_fakesmsc(self, line: str | None = None) -> None:
        """Start fakesmsc: interactive (one MO per stdin line), or one-shot sending ``line``."""
        # -v 0: "Got message N" is a debug line (only the -m'th message is info).
        # -i 0: no pacing between MO messages, so every line is sent as soon as read.
        # No message arguments: interactive mode, one MO per stdin line. With one
        # and -m 1: it is sent once, then fakesmsc only prints what it receives.
        args = [FAKESMSC, "-v", "0", "-H", LOOPBACK, "-r", str(self._ports["fake"]), "-i", "0"]
        if line is not None:
            args += ["-m", "1", line]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE if line is None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        self._procs["fakesmsc"] = proc
        _LIVE.add(self)
        assert proc.stdout is not None
        with self._cond:
            self._fs_eof = False
            self._sent = 0
        self._mo_count = 0
        self._one_shot = line is not None
        self._reader = threading.Thread(
            target=self._read_fakesmsc, args=(proc.stdout,), name="fakesmsc-reader", daemon=True
        )
        self._reader.start()

    def _read_fakesmsc(self, stream: IO[bytes]) -> None:
        """Drain fakesmsc's output so its pipe never fills; queue MT lines, count MO acks."""
        with open(self.workdir / "fakesmsc.out", "a", encoding="utf-8") as copy:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                copy.write(line + "\n")
                copy.flush()
                with self._cond:
                    self._fs_lines.append(line)
                    sent = _SENT_MESSAGE.search(line)
                    if sent:
                        self._sent = int(sent.group(1))
                        self._cond.notify_all()
                got = _GOT_MESSAGE.search(line)
                if got:
                    self._mt_queue.put((line, got.group(2)))
        with self._cond:
            self._fs_eof = True
            self._cond.notify_all()

    def _wait_for(self, condition: Callable[[], bool], what: str, deadline: float) -> None:
        """Poll ``condition`` until true; fail fast when a Kannel process has exited."""
        while True:
            if condition():
                return
            # bearerbox keeps running without its admin server when that port is taken,
            # so look at the console output as well as at the exit codes.
            if self._port_clash():
                raise _PortClash(f"a port was taken while waiting for {what}\n{self.logs()}")
            for name, proc in self._procs.items():
                rc = proc.poll()
                if rc is not None:
                    raise KannelError(
                        f"{name} exited (rc={rc}) while waiting for {what}\n{self.logs()}"
                    )
            if time.monotonic() > deadline:
                raise KannelError(f"timed out waiting for {what}\n{self.logs()}")
            time.sleep(0.05)

    def _port_clash(self) -> bool:
        for name in ("bearerbox.out", "smsbox.out"):
            path = self.workdir / name
            if path.exists() and _PORT_CLASH in path.read_text(errors="replace"):
                return True
        return False

    def status(self) -> str:
        """Return bearerbox's status page (status.txt)."""
        with urllib.request.urlopen(self.status_url, timeout=2) as resp:
            page: bytes = resp.read()
            return page.decode("utf-8", "replace")

    def _links_up(self) -> bool:
        try:
            page = self.status()
        except OSError:  # admin port not up yet (URLError is an OSError)
            return False
        fake_online = re.search(rf"\[{SMSC_ID}\]\s+FAKE:\d+ \(online", page) is not None
        smsbox_connected = re.search(r"^\s*smsbox:", page, re.MULTILINE) is not None
        return fake_online and smsbox_connected

    # -- MO ------------------------------------------------------------------------------

    def send_mo(self, sender: str, receiver: str, text: str) -> None:
        """Send a plain text MO from ``sender`` to ``receiver`` through fakesmsc."""
        self._send_line(sender, receiver, f"text {text}")

    def send_mo_ucs2(self, sender: str, receiver: str, text: str) -> None:
        """Send a UCS-2 MO (coding 2): the text as URL-encoded UTF-16BE."""
        data = urllib.parse.quote(text.encode("utf-16-be"), safe="")
        self._send_line(sender, receiver, f"ucs2 {data}")

    def _send_line(self, sender: str, receiver: str, rest: str, timeout: float = 10) -> None:
        for name, value in (("sender", sender), ("receiver", receiver)):
            if not value or any(c.isspace() for c in value):
                raise ValueError(f"{name} must be one word: {value!r}")
        line = f"{sender} {receiver} {rest}"
        if "\n" in line or "\r" in line:
            raise ValueError("fakesmsc takes one message per line: no newlines in an MO")
        data = (line + "\n").encode("utf-8")
        with self._send_lock:
            if "fakesmsc" not in self._procs:
                raise KannelError("not started")
            if len(data) - 1 > MAX_MO_LINE_BYTES:
                self._send_long_line(line, timeout)
                return
            if self._one_shot:  # a long line was sent last: back to interactive
                self._stop_fakesmsc()
                self._start_fakesmsc()
            proc = self._procs["fakesmsc"]
            assert proc.stdin is not None
            expected = self._mo_count + 1
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except BrokenPipeError:
                raise KannelError(f"fakesmsc has exited\n{self.logs()}") from None
            # Wait for fakesmsc to take this line before writing the next (see module doc).
            with self._cond:
                done = self._cond.wait_for(lambda: self._sent >= expected or self._fs_eof, timeout)
                sent = self._sent >= expected
            if not done or not sent:
                raise KannelError(f"fakesmsc did not send MO {line!r}\n{self.logs()}")
            self._mo_count = expected

    def _send_long_line(self, line: str, timeout: float) -> None:
        """Send a line too long for interactive fakesmsc through a one-shot fakesmsc."""
        self._stop_fakesmsc()
        self._start_fakesmsc(line)
        with self._cond:
            self._cond.wait_for(lambda: self._sent >= 1 or self._fs_eof, timeout)
            sent = self._sent >= 1
        if not sent:
            raise KannelError(f"one-shot fakesmsc did not send MO {line[:80]!r}...\n{self.logs()}")

    # -- MT ------------------------------------------------------------------------------

    def _next_item(self, timeout: float) -> tuple[str, str] | None:
        if self._backlog:
            return self._backlog.popleft()
        try:
            return self._mt_queue.get(timeout=max(timeout, 0))
        except queue.Empty:
            return None

    def _take_mt(self, timeout: float) -> MT | None:
        """Return the next parsed MT within ``timeout``, joining continuation lines."""
        deadline = time.monotonic() + timeout
        while True:
            item = self._next_item(deadline - time.monotonic())
            if item is None:
                return None
            line, body = item
            mt = parse_mt(body, line)
            if mt is not None:
                break
            # A stray continuation with no text MT before it: nothing to attach it to.
        if mt.kind != "text":
            return mt
        text, raw = mt.text, mt.raw
        while True:
            follow = self._next_item(CONTINUATION_GRACE)
            if follow is None:
                break
            if parse_mt(follow[1]) is not None:
                self._backlog.appendleft(follow)
                break
            text += "\n" + follow[1]
            raw += "\n" + follow[0]
        return MT(mt.sender, mt.receiver, text, raw, "text", b"", text.encode("utf-8"))

    def wait_mt(self, timeout: float = 15, predicate: Callable[[MT], bool] | None = None) -> MT:
        """Return the next MT fakesmsc received (the next matching ``predicate``).

        MTs that do not match are consumed (and kept in ``received``). Concatenated
        replies arrive as one MT per part (``kind == "udh"``); see ``wait_sms``.
        Raise TimeoutError with fakesmsc's output when none arrives in time.
        """
        deadline = time.monotonic() + timeout
        while True:
            mt = self._take_mt(deadline - time.monotonic())
            if mt is None:
                seen = "".join(f"\n  received before: {m.raw}" for m in self.received[-10:])
                raise TimeoutError(
                    f"no matching MT within {timeout:g}s{seen}\n"
                    f"--- fakesmsc output ---\n{self.fakesmsc_output(tail=60)}"
                )
            self.received.append(mt)
            if predicate is None or predicate(mt):
                return mt

    def wait_sms(
        self,
        timeout: float = 15,
        predicate: Callable[[MT], bool] | None = None,
        encoding: str = "utf-8",
    ) -> MT:
        """Like ``wait_mt``, but collect all parts of a concatenated reply into one MT.

        Pass ``encoding="utf-16-be"`` for a UCS-2 reply (fakesmsc's part lines do
        not say which coding they carry).
        """
        deadline = time.monotonic() + timeout
        first = self.wait_mt(timeout, predicate)
        info = first.concat
        if info is None:
            return first
        ref, total, _ = info
        parts = {info[2]: first}

        key = (first.sender, first.receiver, ref)

        def same_message(m: MT) -> bool:
            c = m.concat
            return c is not None and (m.sender, m.receiver, c[0]) == key

        while len(parts) < total:
            part = self.wait_mt(max(deadline - time.monotonic(), 0), same_message)
            assert part.concat is not None
            parts[part.concat[2]] = part
        return join_parts(list(parts.values()), encoding)

    def assert_no_mt(
        self, within: float = 3.0, predicate: Callable[[MT], bool] | None = None
    ) -> None:
        """Fail when an MT (matching ``predicate``) arrives within ``within`` seconds."""
        try:
            mt = self.wait_mt(within, predicate)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected MT: {mt.raw}")

    # -- sendsms -------------------------------------------------------------------------

    def send_sms(
        self, to: str, text: str, *, sender: str | None = None, **params: str | int
    ) -> tuple[int, str]:
        """GET the sendsms interface as this harness's user; return (status, body).

        ``sender`` becomes ``from``; pass other CGI variables as keywords, e.g.
        ``**{"dlr-mask": 31, "dlr-url": url}`` (they are URL-encoded here).
        """
        query = {"username": self.username, "password": self.password, "to": to, "text": text}
        if sender is not None:
            query["from"] = sender
        query.update({key: str(value) for key, value in params.items()})
        url = f"{self.sendsms_url}?{urllib.parse.urlencode(query)}"
        return http_get(url)

    # -- stop and logs -------------------------------------------------------------------

    def stop(self) -> None:
        """Stop fakesmsc, smsbox, then bearerbox (SIGTERM, SIGKILL after 5 s). Idempotent."""
        with self._stop_lock:
            self._stop_fakesmsc()
            for name in ("smsbox", "bearerbox"):
                proc = self._procs.pop(name, None)
                if proc is not None:
                    stop_process(proc, grace=STOP_GRACE, group=False)
            _LIVE.discard(self)

    def _stop_fakesmsc(self) -> None:
        """Stop fakesmsc and its output reader (MTs already queued are kept)."""
        proc = self._procs.pop("fakesmsc", None)
        if proc is None:
            return
        stop_process(proc, grace=STOP_GRACE, group=False)
        # Only now close fakesmsc's stdin (EOF would have made it quit).
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if proc.stdout is not None:
            # The reader sees EOF once the process is gone; then close the pipe.
            if self._reader is not None:
                self._reader.join(STOP_GRACE)
                self._reader = None
            proc.stdout.close()

    def __enter__(self) -> KannelHarness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fakesmsc_output(self, tail: int | None = None) -> str:
        with self._cond:
            return _tail("\n".join(self._fs_lines), tail)

    def logs(self, tail: int | None = 200) -> str:
        """Return Kannel's log files and console output (last ``tail`` lines of each)."""
        sections = []
        for name in (
            "bearerbox.out",
            "bearerbox.log",
            "smsbox.out",
            "smsbox.log",
            "access.log",
            "smsbox-access.log",
        ):
            path = self.workdir / name
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace")
                sections.append(f"--- {name} ---\n{_tail(text, tail)}")
        sections.append(f"--- fakesmsc output ---\n{self.fakesmsc_output(tail)}")
        return "\n".join(sections)


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    """GET ``url``; return (status, body) for any HTTP status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode("utf-8", "replace")


@contextlib.contextmanager
def running_kannel(workdir: Path, *, timeout: float = 20, **kwargs: Any) -> Iterator[KannelHarness]:
    """Start a KannelHarness, yield it, and always stop it (also when the test fails).

    An exception from the ``with`` body gets the tail of Kannel's logs as a note.
    """
    harness = KannelHarness(workdir, **kwargs)
    harness.start(timeout)
    try:
        yield harness
    except Exception as exc:
        exc.add_note(f"Kannel logs (tail):\n{harness.logs(tail=40)}")
        raise
    finally:
        harness.stop()
