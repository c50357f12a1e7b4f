"""Flash-crowd benchmark: thousands of SMS webhooks at once, against the real deployment.

When an office opens its quota, thousands of applicants text at once. This
script replays such a crowd against the gateway as production runs it
(gunicorn with ``deploy/gunicorn.conf.py``, signatures checked, a fresh
PostgreSQL database or the embedded SQLite file), measures it against the
"ceiling" (``bench/ceiling_app.py``: the smallest Flask route returning a fixed
TwiML reply, under the same gunicorn settings and the same requests), and then
checks in the database that the crowd did no harm::

    .venv/bin/python bench/flash_crowd.py                  # 20,000 requests, PostgreSQL
    .venv/bin/python bench/flash_crowd.py --requests 2000 --sqlite
    .venv/bin/python bench/flash_crowd.py --requests 2000 --transport kannel
    .venv/bin/python bench/flash_crowd.py --requests 2000 --fault worker-kill
    .venv/bin/python bench/flash_crowd.py --requests 2000 --fault db-restart
    make bench BENCH_ARGS="--requests 2000 --no-ceiling"

The crowd (fixed random seed, so every run sends the same texts): one office
(PMK) with one session of 300 seats tomorrow (Asia/Jakarta); about 75% distinct applicants
sending ``DAFTAR <NIK> <date>``, 10% provider retries (the very same request
again: same MessageSid or Kannel id, same signature), 10% an earlier
applicant's NIK from a new phone, 5% ``CEK`` or ``BATAL`` from an earlier
applicant's phone. A derived request comes at least two connections' worth of
requests after its original.

How it runs: all requests are signed beforehand and written to one file;
``wrk`` replays them with ``bench/replay.lua``, each exactly once, and the
script writes every answer beside its request index. Matching is exact
because wrk runs one connection per thread (``-t C -c C``): a connection never
has two requests in flight, so a thread's next answer belongs to its request
on the wire (see replay.lua for the details of wrk this relies on). That is
why ``--threads`` must equal ``--connections``.

How to read the output: the table gives, for the gateway and the ceiling,
requests per second over the whole replay, latency percentiles per request
(p50/p90/p99/max in ms, measured by replay.lua, no coordinated-omission
correction), non-2xx answers and requests left without an answer; then the
ratio gateway/ceiling (the share of a bare Flask webhook's throughput the
gateway keeps). wrk shares the machine with gunicorn, and replay.lua's
bookkeeping per answer is not free: at the ceiling's rate it costs roughly a
fifth of a 2-core machine (a bare ``wrk`` with one static request gets that
much more out of the ceiling app), at the gateway's rate next to nothing. So
the ratio flatters the gateway a little; both runs pay the same per request.
Then the checks:

- ``oversold``: bookings holding a seat for the day beyond the quota.
- ``duplicates``: phones or NIKs with more than one booking holding a seat,
  queue numbers handed out twice, and provider retries answered differently
  from their original (a retry handled as a new message).
- ``lost``: replies (HTTP 200) that told an applicant something the database
  does not back: a queue number that does not match a booking of that phone
  afterwards (missing, another code, another phone, or not holding its seat;
  cancelled is fine if that phone sent BATAL, and a reply to BATAL must find
  its booking cancelled), or an answer that belongs to another command (a
  DAFTAR answered like a CEK: a wrong answer).
- ``errors``: non-2xx answers, requests without an answer (socket errors),
  answers slower than Twilio's 15 s webhook timeout, and gateway log errors
  (a traceback, counted once even when chained, or "database is locked").
  A 200 reply that only apologises ("sistem sedang gangguan") comes with a
  logged traceback; the ``errors`` line also says how many there were.
  During a fault, errors are expected: they must be honest (5xx or the
  apology), never a wrong answer.

The ``replies`` line counts the answers by reply template (``booked``,
``day_full_try_next``, ``nik_taken``...; see sms_gateway/replies.py). With
``--keep`` the temporary directory keeps everything for a closer look: the
config, ``requests.tsv``, wrk's output, replay.lua's answers per thread, the
gunicorn logs; and the PostgreSQL database is not dropped.

With ``--fault worker-kill`` one gunicorn worker gets SIGKILL once a third of
the answers are in. With ``--fault db-restart`` the benchmark never touches the
machine's shared PostgreSQL server (other tests or a developer's gateway may be
using it): it starts a private cluster of its own (``initdb`` into a temporary
directory inside its working directory, as the ``postgres`` OS user when run as
root, trust authentication, listening on 127.0.0.1 only on a free port, its
unix socket inside that directory, fsync off), runs the gateway and all its
checks against a database there, restarts that cluster (``pg_ctl restart -m
fast``) once a third of the answers are in, and stops and removes it at the
end, also on an error, Ctrl-C or SIGTERM; a watchdog process does the same if
the benchmark itself is killed. SMS_GATEWAY_BENCH_POSTGRES_URL plays no part
in that mode. After either fault a few fresh signed DAFTARs must get real
answers: the gateway recovered by itself.

The last line is always
``flash-crowd: ratio=R p99_ms=P errors=E oversold=O duplicates=D lost=L``.
The exit status is 0 when oversold, duplicates and lost are 0 (and, with a
fault, the fault happened and the gateway recovered), else 1. It never judges
speed: that is for a person reading BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import html
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# Run as a script, this directory is on the path but the project root is not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Date, bindparam, create_engine, text
from sqlalchemy.engine import Engine, make_url
from twilio.request_validator import RequestValidator

from bench.processes import Processes, children, free_port
from sms_gateway import replies

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "replay.lua"
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
PG_LIB = Path("/usr/lib/postgresql")  # Debian's PostgreSQL binaries: PG_LIB/<version>/bin
PG_OS_USER = "postgres"  # initdb and postgres refuse to run as root

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ENV_PG = "SMS_GATEWAY_BENCH_POSTGRES_URL"

SEED = 6  # the number: every run sends the same crowd
OFFICE = "PMK"
OFFICE_NAME = "Kantor Imigrasi Pamekasan"
OFFICE_NUMBER = "+6282140000001"
KANNEL_TO = "1234"  # an operator short code: the gateway falls back to the first office
SESSION = "PAGI"
QUOTA = 300
TIMEZONE = ZoneInfo("Asia/Jakarta")
HOLDING = ("active", "checked_in", "called")

TWILIO_TIMEOUT_US = 15_000_000  # Twilio gives up on a webhook after 15 s
PROBES = 5  # fresh DAFTARs that must be answered after the run
RECOVERY_DEADLINE_S = 60.0
STARTUP_DEADLINE_S = 90.0


class BenchError(Exception):
    """The benchmark itself could not run (not a finding about the gateway)."""


# -- the crowd -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One SMS the crowd sends; a retry repeats its original exactly."""

    index: int
    kind: str  # daftar, retry, same_nik, cek, batal, probe
    phone: str  # E.164
    text: str
    message_id: str  # Twilio MessageSid or Kannel id
    nik: str | None = None
    original: int | None = None  # for a retry: the index of the request it repeats


def phone_number(n: int) -> str:
    """Return a distinct valid Indonesian mobile number (E.164) for n >= 1."""
    return f"+62812{n:08d}"


def nik_number(k: int) -> str:
    """Return a distinct structurally valid NIK for k >= 0 (district 01-99, serial 0001-9999)."""
    district, serial = 1 + k // 9999, 1 + k % 9999
    if district > 99:
        raise BenchError("more NIKs asked for than the pattern has (989,901)")
    return f"3528{district:02d}150590{serial:04d}"


class Crowd:
    """Generate the requests, deterministically, and fresh applicants for later probes."""

    def __init__(self, day: date, transport: str, seed: int = SEED) -> None:
        self.day_text = f"{day:%d-%m-%Y}"
        self.transport = transport
        self.rng = random.Random(seed)
        self.phones = 0
        self.niks = 0

    def new_id(self) -> str:
        """Return a provider message id: a Twilio MessageSid or a Kannel UUID."""
        bits = self.rng.getrandbits(128)
        if self.transport == "twilio":
            return f"SM{bits:032x}"
        return str(uuid.UUID(int=bits, version=4))

    def applicant(self, index: int, kind: str = "daftar") -> Request:
        """Return a DAFTAR from a phone and a NIK never used before."""
        self.phones += 1
        nik = nik_number(self.niks)
        self.niks += 1
        return Request(
            index,
            kind,
            phone_number(self.phones),
            f"DAFTAR {nik} {self.day_text}",
            self.new_id(),
            nik,
        )

    def build(self, n: int, gap: int) -> list[Request]:
        """Return ``n`` requests: 75% applicants, 10% retries, 10% same NIK, 5% CEK/BATAL.

        A retry, a same-NIK attempt or a CEK/BATAL refers to a request at least
        ``gap`` positions earlier, so it normally reaches the gateway after its
        original (all connections run roughly in step).
        """
        rng = self.rng
        counts = {
            "retry": round(n * 0.10),
            "same_nik": round(n * 0.10),
            "cek_batal": round(n * 0.05),
        }
        labels = [label for label, c in counts.items() for _ in range(c)]
        labels += ["daftar"] * (n - len(labels))
        rng.shuffle(labels)

        requests: list[Request] = []
        fresh: list[int] = []  # indexes of first-time applicants (DAFTAR)
        originals: list[int] = []  # indexes of every request that is not a retry
        applicants: list[int] = []  # indexes of DAFTARs (fresh or same NIK): their phones applied
        for i in range(n):
            limit = i - gap
            eligible = {
                "retry": bisect.bisect_right(originals, limit),
                "same_nik": bisect.bisect_right(fresh, limit),
                "cek_batal": bisect.bisect_right(applicants, limit),
            }
            label = labels[i]
            if label != "daftar" and not eligible[label]:
                # Too early for a derived request: swap in a later applicant.
                later = next((j for j in range(i + 1, n) if labels[j] == "daftar"), None)
                if later is not None:
                    labels[i], labels[later] = labels[later], labels[i]
                label = "daftar"
            if label == "daftar":
                req = self.applicant(i)
                fresh.append(i)
            elif label == "retry":
                o = requests[originals[rng.randrange(eligible["retry"])]]
                req = Request(i, "retry", o.phone, o.text, o.message_id, o.nik, original=o.index)
            elif label == "same_nik":
                o = requests[fresh[rng.randrange(eligible["same_nik"])]]
                self.phones += 1
                req = Request(
                    i, "same_nik", phone_number(self.phones), o.text, self.new_id(), o.nik
                )
            else:
                # Half of them from the first applicants, who most likely won a seat,
                # so that BATAL really frees seats and bookings go on all run long.
                pool = eligible["cek_batal"]
                if rng.random() < 0.5:
                    pool = min(pool, 2 * QUOTA)
                o = requests[applicants[rng.randrange(pool)]]
                word = rng.choice(("CEK", "BATAL"))
                req = Request(i, word.lower(), o.phone, word, self.new_id())
            requests.append(req)
            if req.kind != "retry":
                originals.append(i)
            if req.kind in ("daftar", "same_nik"):
                applicants.append(i)
        return requests


# -- the wire: how a request looks on HTTP, per transport ---------------------------------


class Wire:
    """Encode requests for one transport, and read the SMS text out of an answer."""

    def __init__(self, transport: str, port: int, auth_token: str, kannel_secret: str) -> None:
        self.transport = transport
        self.port = port
        self.validator = RequestValidator(auth_token)
        self.kannel_secret = kannel_secret
        self.account_sid = "AC" + "5" * 32

    def encode(self, req: Request) -> tuple[str, str, str, str]:
        """Return method, path (with query), X-Twilio-Signature (or "") and body (or "")."""
        if self.transport == "kannel":
            query = urllib.parse.urlencode(
                {
                    "key": self.kannel_secret,
                    "from": req.phone.removeprefix("+"),
                    "to": KANNEL_TO,
                    "text": req.text,
                    "id": req.message_id,
                    "coding": "0",
                    "charset": "UTF-8",
                }
            )
            return "GET", f"/sms/kannel?{query}", "", ""
        form = {
            "MessageSid": req.message_id,
            "AccountSid": self.account_sid,
            "From": req.phone,
            "To": OFFICE_NUMBER,
            "Body": req.text,
            "NumMedia": "0",
        }
        # Twilio signs the URL it calls; the gateway rebuilds it from the Host header.
        url = f"http://127.0.0.1:{self.port}/sms/twilio"
        signature = self.validator.compute_signature(url, form)
        return "POST", "/sms/twilio", signature, urllib.parse.urlencode(form)

    def line(self, req: Request) -> str:
        """Return the request as one line of replay.lua's input."""
        return "\t".join((str(req.index), *self.encode(req))) + "\n"

    def send(self, req: Request, timeout: float = 20.0) -> tuple[int, str]:
        """Send one request now (outside wrk) and return the status and body."""
        method, path, signature, body = self.encode(req)
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        if signature:
            headers["X-Twilio-Signature"] = signature
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=body.encode() if body else None,
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")
        except (OSError, TimeoutError):
            return 0, ""

    def sms_text(self, body: str) -> str:
        """Return the reply SMS inside an answer's body (TwiML or Kannel's plain text)."""
        if self.transport == "kannel":
            return body.strip()
        found = re.search(r"<Message>(.*?)</Message>", body, re.DOTALL)
        return html.unescape(found.group(1)) if found else ""


# -- reading replies -----------------------------------------------------------------------


# Replies that announce a booking as cancelled (the rest announce it as held).
CANCEL_KINDS = {"cancelled", "cancelled_late"}
# Replies that only answer one command: a CEK answered like a DAFTAR is a wrong
# answer (or a benchmark that matched answers to the wrong requests).
ANSWERS_ONLY = {
    "DAFTAR": {
        "booked",
        "already_booked",
        "nik_taken",
        "phone_taken",
        "day_full_try_next",
        "session_full_try_other",
        "all_full",
    },
    "CEK": {"status", "no_booking", "cek_waiting"},
    "BATAL": {"cancelled", "cancelled_late", "no_booking_to_cancel", "wait_left"},
}


def classify(sms: str) -> tuple[str, dict[str, str]]:
    """Return the reply template's name and its fields ("other" if none fits)."""
    if not sms:
        return "empty", {}
    name, fields = replies.template_of(sms)
    return name or "other", fields


# -- processes -----------------------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    """Return this environment without the gateway's overrides, plus ``extra``.

    A stray SMS_GATEWAY_DATABASE_URL or TWILIO_AUTH_TOKEN in the caller's shell
    would otherwise point the gateway at another database or another token.
    """
    prefixes = ("SMS_GATEWAY_", "TWILIO_", "KANNEL_", "PROMETHEUS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def get_status(url: str, timeout: float = 5.0) -> int:
    """Return the HTTP status of GET ``url`` (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, TimeoutError):
        return 0


def start_gunicorn(
    procs: Processes, app: str, *, port: int, workers: int, workdir: Path, name: str, **env: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``app`` under gunicorn with deploy/gunicorn.conf.py; wait until it answers."""
    log = workdir / f"{name}.log"
    metrics = workdir / f"metrics-{name}"
    metrics.mkdir(exist_ok=True)
    cmd = [str(BIN / "gunicorn"), "-c", str(GUNICORN_CONF), app]
    environment = child_env(
        SMS_GATEWAY_BIND=f"127.0.0.1:{port}",
        SMS_GATEWAY_WORKERS=str(workers),
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
        **env,
    )
    proc = procs.start(cmd, log=log, env=environment)
    deadline = time.monotonic() + STARTUP_DEADLINE_S
    while get_status(f"http://127.0.0.1:{port}/healthz", timeout=2) != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise BenchError(f"{name} did not start (see {log}):\n{tail}")
        time.sleep(0.2)
    # One worker answered; give the others the moment they need to import the app,
    # so the crowd does not start against a half-started server.
    while len(children(proc.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    return proc, log


# -- the replay ----------------------------------------------------------------------------


@dataclass
class Answer:
    """What replay.lua recorded for one request (status 0: no answer)."""

    status: int
    latency_us: int
    body: str


@dataclass
class Figures:
    """The speed of one replay, from replay.lua's per-request records."""

    name: str
    answered: int = 0
    unanswered: int = 0
    duration_s: float = 0.0
    req_per_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    non2xx: int = 0
    slow: int = 0  # answered after Twilio's 15 s timeout
    socket_errors: int = 0  # wrk's connect + read + write errors
    complete: bool = False  # every thread got through its slice
    wrk: dict[str, Any] = field(default_factory=dict)  # replay.lua's done() line


def percentile(sorted_values: list[int], p: float) -> float:
    """Nearest-rank percentile (the same rule as replay.lua's done())."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return float(sorted_values[int(rank) - 1])


class Follower:
    """Follow replay.lua's result files while wrk runs: answers so far, threads done."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.offsets: dict[Path, int] = {}
        self.answers = 0
        self.done = 0

    def poll(self) -> None:
        for path in self.out_dir.glob("thread-*.tsv"):
            offset = self.offsets.get(path, 0)
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.offsets[path] = offset + len(complete)
            finished = complete.count(b"#done\t")
            self.done += finished
            self.answers += complete.count(b"\n") - finished


def replay(
    procs: Processes,
    *,
    name: str,
    port: int,
    requests_file: Path,
    total: int,
    connections: int,
    workdir: Path,
    at_one_third: Callable[[int], None] | None = None,
) -> tuple[Figures, dict[int, Answer]]:
    """Replay the request file once with wrk against ``port``; return figures and answers."""
    out_dir = workdir / f"answers-{name}"
    out_dir.mkdir()
    duration = max(300, total // 20)  # generous: wrk is stopped as soon as all is through
    # A port that listens and never accepts: finished wrk threads reconnect there.
    with socket.socket() as sink:
        sink.bind(("127.0.0.1", 0))
        sink.listen(connections + 16)
        cmd = [
            "wrk",
            "-t", str(connections),
            "-c", str(connections),
            "-d", f"{duration}s",
            "--timeout", "60s",
            "--latency",
            "-s", str(LUA),
            f"http://127.0.0.1:{port}",
            "--",
            str(requests_file), str(out_dir), str(connections), str(sink.getsockname()[1]),
        ]  # fmt: skip
        stdout = workdir / f"wrk-{name}.out"
        proc = procs.start(cmd, log=workdir / f"wrk-{name}.err", env=child_env(), stdout=stdout)
        follower = Follower(out_dir)
        started = time.monotonic()
        fired = at_one_third is None
        while proc.poll() is None:
            time.sleep(0.05)
            follower.poll()
            if not fired and follower.answers * 3 >= total:
                fired = True
                assert at_one_third is not None
                at_one_third(follower.answers)
            if follower.done >= connections:
                # Every thread is through: wake wrk from its -d sleep (SIGINT = finish now).
                os.kill(proc.pid, signal.SIGINT)
                break
            if time.monotonic() - started > duration + 60:
                break
        # SIGINT makes wrk print its summary and run done(); SIGKILL if it hangs.
        procs.stop(proc, signal.SIGINT, grace=30)
    figures, answers = read_answers(name, out_dir, total, connections)
    for line in stdout.read_text(errors="replace").splitlines():
        if line.startswith("FLASH_CROWD_JSON "):
            figures.wrk = json.loads(line.removeprefix("FLASH_CROWD_JSON "))
    figures.socket_errors = sum(int(figures.wrk.get(k, 0)) for k in ("connect", "read", "write"))
    if not fired:
        raise BenchError(f"{name}: the run ended before a third of it was answered")
    return figures, answers


def read_answers(
    name: str, out_dir: Path, total: int, threads: int
) -> tuple[Figures, dict[int, Answer]]:
    """Read replay.lua's files: every answer by request index, and the run's figures."""
    answers: dict[int, Answer] = {}
    firsts, lasts, done = [], [], 0
    for path in sorted(out_dir.glob("thread-*.tsv")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("\t", 4)
            if parts[0] == "#done":
                done += 1
                if parts[1] != "-":
                    firsts.append(int(parts[1]))
                    lasts.append(int(parts[2]))
                continue
            if len(parts) == 5:
                answers[int(parts[0])] = Answer(int(parts[1]), int(parts[2]), parts[4])
    answered = [a for a in answers.values() if a.status]
    latencies = sorted(a.latency_us for a in answered)
    duration = (max(lasts) - min(firsts)) / 1e6 if firsts else 0.0
    figures = Figures(
        name=name,
        answered=len(answered),
        unanswered=total - len(answered),
        duration_s=round(duration, 3),
        req_per_s=round(len(answered) / duration, 1) if duration else 0.0,
        p50_ms=percentile(latencies, 50) / 1000,
        p90_ms=percentile(latencies, 90) / 1000,
        p99_ms=percentile(latencies, 99) / 1000,
        max_ms=percentile(latencies, 100) / 1000,
        non2xx=sum(1 for a in answered if not 200 <= a.status < 300),
        slow=sum(1 for v in latencies if v > TWILIO_TIMEOUT_US),
        complete=done >= threads,
    )
    return figures, answers


# -- databases -----------------------------------------------------------------------------


class Database:
    """The benchmark's own database: a fresh PostgreSQL database or a SQLite file.

    ``admin_url`` is the server to create it on: the private cluster's with
    ``--fault db-restart``, else SMS_GATEWAY_BENCH_POSTGRES_URL or the default.
    """

    def __init__(self, sqlite: bool, workdir: Path, admin_url: str | None = None) -> None:
        self.sqlite = sqlite
        self.admin_url = admin_url or os.environ.get(ENV_PG, DEFAULT_PG)
        if sqlite:
            self.name = "gateway.db"
            self.url = f"sqlite:///{workdir / self.name}"
        else:
            self.name = f"bench_{secrets.token_hex(4)}"
            url = make_url(self.admin_url).set(database=self.name)
            self.url = url.render_as_string(hide_password=False)
        self.created = False

    def admin(self) -> Engine:
        return create_engine(self.admin_url, isolation_level="AUTOCOMMIT")

    def create(self) -> None:
        if self.sqlite:
            return
        engine = self.admin()
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:
            raise BenchError(f"cannot create a database at {self.admin_url}: {exc}") from None
        finally:
            engine.dispose()
        self.created = True

    def drop(self) -> None:
        if self.sqlite or not self.created:
            return
        engine = self.admin()
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            engine.dispose()

    def wait_reachable(self, deadline_s: float = 120.0) -> None:
        """Wait until the server accepts connections again."""
        started = time.monotonic()
        while True:
            engine = create_engine(self.url)
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return
            except Exception:
                if time.monotonic() - started > deadline_s:
                    raise BenchError("the database did not come back") from None
                time.sleep(0.5)
            finally:
                engine.dispose()


def write_config(
    workdir: Path,
    db_url: str,
    auth_token: str,
    kannel_secret: str | None = None,
    *,
    sessions: str = f'{{ name = "{SESSION}", start = "08:00", end = "12:00", quota = {QUOTA} }}',
    min_days_ahead: int = 1,
    max_days_ahead: int = 30,
    written_by: str = "bench/flash_crowd.py",
) -> Path:
    """Write the gateway's config: one office open every day, one session of QUOTA seats.

    bench/busy_day.py writes its own sessions and booking window through it.
    """
    q = json.dumps  # a JSON string is a valid TOML basic string
    kannel = f"\n[kannel]\nsecret = {q(kannel_secret)}\n" if kannel_secret else ""
    body = f"""\
# Written by {written_by} for one run.
[database]
url = {q(db_url)}

[security]
nik_secret = {q(secrets.token_hex(32))}

[twilio]
auth_token = {q(auth_token)}
{kannel}
[booking]
min_days_ahead = {min_days_ahead}
max_days_ahead = {max_days_ahead}

[limits]
# Not what this benchmark is about (10,000 is the highest the config accepts).
messages_per_hour = 10000
niks_per_phone = 100

[calendar]
# Every day of the coming weeks is a working day, whatever the date.
national_holidays = false
cuti_bersama = false

[[offices]]
code = "{OFFICE}"
name = "{OFFICE_NAME}"
sms_number = "{OFFICE_NUMBER}"
open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
sessions = [{sessions}]
"""
    path = workdir / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


# -- the private PostgreSQL cluster (--fault db-restart) ----------------------------------


def pg_bin_dir() -> Path:
    """Return the bin directory of the newest PostgreSQL under /usr/lib/postgresql."""
    found = []
    if PG_LIB.is_dir():
        for path in PG_LIB.iterdir():
            bindir = path / "bin"
            if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
                version = tuple(int(n) if n.isdigit() else 0 for n in path.name.split("."))
                found.append((version, bindir))
    if not found:
        raise BenchError(
            f"--fault db-restart needs PostgreSQL's initdb and pg_ctl ({PG_LIB}/*/bin)"
        )
    return max(found)[1]


# Stops the private cluster and removes its directory once its stdin reaches
# EOF: when the benchmark closes the pipe on the way out, or when the benchmark
# dies, even by SIGKILL (a pytest timeout), since the kernel then closes it.
# postgres is daemonised by pg_ctl (its own session, no death signal), so this
# is what makes sure no postmaster outlives the benchmark. A pg_ctl still at
# work on the cluster (the fault's restart, when the benchmark was killed
# mid-restart) is let finish first, so nothing starts the cluster again after
# it was stopped. Standard library only; the argument is the JSON of
# PrivateCluster.watchdog_spec(), the environment the cluster's.
_WATCHDOG = """\
import json, os, shutil, signal, subprocess, sys, time
spec = json.loads(sys.argv[1])
sys.stdin.buffer.read()
pidfile = os.path.join(spec["data"], "postmaster.pid")

def pg_ctl_at_work():
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\\0")
        except OSError:
            continue
        if args and args[0].endswith(b"pg_ctl") and spec["data"].encode() in args:
            return True
    return False

deadline = time.monotonic() + 180
while pg_ctl_at_work() and time.monotonic() < deadline:
    time.sleep(0.5)

def postmaster():
    try:
        with open(pidfile) as f:
            pid = int(f.readline())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return pid if spec["data"].encode() in f.read() else None
    except (OSError, ValueError):
        return None

for cmd in spec["stop"]:
    if postmaster() is None:
        break
    try:
        subprocess.run(cmd, cwd=spec["dir"], timeout=90, check=False)
    except subprocess.TimeoutExpired:
        pass
pid = postmaster()
if pid is not None:
    # Last resort: SIGKILL the postmaster and its children (they set their own sessions).
    for stat in os.listdir("/proc"):
        try:
            with open(f"/proc/{stat}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    os.kill(int(stat), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
    os.kill(pid, signal.SIGKILL)
    print(f"cluster watchdog: SIGKILL to postmaster {pid}", file=sys.stderr)
if not spec["keep"]:
    for _ in range(20):
        shutil.rmtree(spec["dir"], ignore_errors=True)
        if not os.path.exists(spec["dir"]):
            break
        time.sleep(0.5)
"""


class PrivateCluster:
    """A throwaway PostgreSQL cluster of the benchmark's own, for ``--fault db-restart``.

    The fault restarts a server; the machine's shared one may be serving other
    tests or a developer's gateway, so the benchmark never touches it: it runs
    ``initdb`` into a fresh directory inside its working directory, starts the
    cluster with ``pg_ctl`` on 127.0.0.1 and a free port (its unix socket in that
    directory too), and restarts only that. As root (as here and in CI) every
    PostgreSQL command runs as the ``postgres`` OS user through ``runuser``,
    since initdb and postgres refuse to run as root.
    """

    def __init__(self, workdir: Path, keep: bool) -> None:
        self.bin = pg_bin_dir()
        self.version = self.bin.parent.name
        self.keep = keep
        self.prefix: list[str] = []
        owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(PG_OS_USER)
            except KeyError:
                raise BenchError(f"no {PG_OS_USER} OS user to run PostgreSQL as") from None
            runuser = shutil.which("runuser")
            if not runuser:
                raise BenchError("runuser (util-linux) is needed to run PostgreSQL as postgres")
            self.prefix = [runuser, "-u", PG_OS_USER, "--"]
            owner = (user.pw_uid, user.pw_gid)
            # mkdtemp made the workdir 0700: let the postgres group (only) traverse it
            # to the cluster's directory; the rest of the workdir stays unreadable.
            os.chown(workdir, -1, user.pw_gid)
            workdir.chmod(0o710)
        self.dir = Path(tempfile.mkdtemp(prefix="pg-", dir=workdir))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self.socket_dir.mkdir()
        self.log = self.dir / "postgres.log"
        self.log.touch()
        if owner:
            for path in (self.dir, self.socket_dir, self.log):
                os.chown(path, *owner)
        self.env = {k: v for k, v in child_env().items() if not k.startswith("PG")}
        self.port = 0
        self.watchdog: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def command(self, tool: str, *args: str) -> list[str]:
        """Return the command line running PostgreSQL's ``tool`` as the right OS user."""
        return [*self.prefix, str(self.bin / tool), *args]

    def pg_ctl(self, action: str, *args: str) -> list[str]:
        return self.command("pg_ctl", action, "-D", str(self.data), *args)

    def restart_command(self) -> list[str]:
        return self.pg_ctl("restart", "-m", "fast", "-w", "-t", "120", "-l", str(self.log))

    def run(self, cmd: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cmd,
            cwd=self.dir,  # postgres may not be allowed into the caller's directory
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,  # Ctrl-C is the benchmark's to handle
        )

    def watchdog_spec(self) -> dict[str, Any]:
        return {
            "data": str(self.data),
            "dir": str(self.dir),
            "keep": self.keep,
            "stop": [
                self.pg_ctl("stop", "-m", "fast", "-w", "-t", "60"),
                self.pg_ctl("stop", "-m", "immediate", "-w", "-t", "30"),
            ],
        }

    def start(self) -> None:
        """Start the watchdog, initdb, and start the cluster on a free port."""
        with (self.dir.parent / "pg-watchdog.log").open("ab") as err:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-I", "-c", _WATCHDOG, json.dumps(self.watchdog_spec())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd="/",
                env=self.env,  # not on its command line, which everyone can read
                start_new_session=True,  # neither Ctrl-C nor the benchmark's death stops it
            )
        init = self.run(
            self.command(
                "initdb",
                "-D", str(self.data),
                "-U", "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",  # as the shared server's databases
                "--no-sync",
            ),
            timeout=300,
        )  # fmt: skip
        if init.returncode != 0:
            raise BenchError(f"initdb failed:\n{init.stdout}{init.stderr}")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as f:
            f.write("\ninclude 'flash_crowd.conf'\n")
        for _attempt in range(3):  # the free port may be taken before postgres binds it
            self.port = free_port()
            (self.data / "flash_crowd.conf").write_text(
                "# Written by bench/flash_crowd.py: a private, throwaway cluster.\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                # Honest note: with fsync off, commits never wait for the disk, so
                # this cluster is faster than a production server (or the shared
                # one) and would lose data if the machine crashed. Fine for a
                # benchmark whose cluster is deleted at the end; a restart with
                # -m fast is a clean shutdown, so the fault loses nothing that
                # a real restart would keep. db-restart figures are therefore not
                # comparable one to one with a default run's.
                "fsync = off\n",
                encoding="utf-8",
            )
            started = self.run(self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.log)))
            if started.returncode == 0:
                return
        tail = self.log.read_text(errors="replace")[-2000:]
        raise BenchError(
            f"the private PostgreSQL cluster did not start:\n{started.stdout}{started.stderr}{tail}"
        )

    def remove(self) -> None:
        """Stop the cluster and (without --keep) delete it: the watchdog does it, on EOF.

        The same code path as when the benchmark dies, so it is the one every run
        exercises. Called more than once, it does nothing more.
        """
        watchdog, self.watchdog = self.watchdog, None
        if watchdog is None:
            return
        assert watchdog.stdin is not None
        watchdog.stdin.close()
        try:
            watchdog.wait(timeout=300)
        except subprocess.TimeoutExpired:
            print(
                f"flash-crowd: the cluster watchdog {watchdog.pid} is still stopping {self.data}",
                file=sys.stderr,
            )
            return
        if (self.data / "postmaster.pid").exists():
            print(
                f"flash-crowd: WARNING: the cluster in {self.data} may still run", file=sys.stderr
            )
        elif self.keep:
            print(
                f"flash-crowd: private cluster stopped and kept; start it with: "
                f"{' '.join(self.pg_ctl('start', '-l', str(self.log)))} "
                f"(port {self.port})",
                file=sys.stderr,
            )


# -- faults --------------------------------------------------------------------------------


@dataclass
class Fault:
    """What was done to the gateway mid-run, and whether it got over it."""

    mode: str
    injected: bool = False
    at_answers: int = 0
    detail: str = ""
    killed_pid: int | None = None
    restart_s: float = 0.0  # db-restart: until the server accepted connections again
    respawned: bool | None = None
    recovered: bool | None = None
    probes_failed: int = 0


class Injector:
    """Inject the fault when a third of the answers are in, then see the gateway over it."""

    def __init__(
        self,
        fault: Fault,
        procs: Processes,
        master: int,
        db: Database,
        workdir: Path,
        cluster: PrivateCluster | None = None,
    ) -> None:
        self.fault, self.procs, self.master, self.db = fault, procs, master, db
        self.cluster = cluster  # db-restart: the private cluster db lives on
        if fault.mode == "db-restart" and cluster is None:
            raise BenchError("--fault db-restart restarts only a private cluster: none was started")
        self.log = workdir / "pg-restart.log"
        self.started = time.monotonic()
        self.restart: subprocess.Popen[bytes] | None = None
        self.restart_started = 0.0

    def __call__(self, answered: int) -> None:
        fault = self.fault
        fault.at_answers = answered
        elapsed = time.monotonic() - self.started
        if fault.mode == "worker-kill":
            workers = children(self.master)
            if not workers:
                fault.detail = "no worker to kill"
                return
            os.kill(workers[0], signal.SIGKILL)
            fault.injected, fault.killed_pid = True, workers[0]
            fault.detail = f"SIGKILL to worker {workers[0]} at {elapsed:.1f} s"
        else:
            # The private cluster, never the machine's shared server.
            cluster = self.cluster
            assert cluster is not None
            self.restart_started = time.monotonic()
            self.restart = self.procs.start(
                cluster.restart_command(),
                log=self.log,
                env=cluster.env,
                must_finish=True,
                cwd=cluster.dir,
            )
            fault.injected = True
            fault.detail = (
                f"pg_ctl restart -m fast of the private cluster (PostgreSQL {cluster.version}, "
                f"127.0.0.1:{cluster.port}) at {elapsed:.1f} s"
            )

    def settle(self, workers: int) -> None:
        """Wait for PostgreSQL to be back, or for gunicorn to replace the killed worker."""
        fault = self.fault
        if self.restart is not None:
            rc = self.restart.wait(timeout=300)
            if rc != 0:
                fault.injected = False
                fault.detail += f" failed (exit {rc}, see {self.log})"
            self.db.wait_reachable()
            fault.restart_s = round(time.monotonic() - self.restart_started, 1)
        if fault.killed_pid is not None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                alive = children(self.master)
                fault.respawned = len(alive) == workers and fault.killed_pid not in alive
                if fault.respawned:
                    break
                time.sleep(0.2)


# -- checks --------------------------------------------------------------------------------


@dataclass
class Checks:
    """What the database and the recorded answers say about correctness."""

    active: int = 0
    seat_counter: int | None = None
    oversold: int = 0
    phone_duplicates: int = 0
    nik_duplicates: int = 0
    queue_duplicates: int = 0
    retry_mismatches: int = 0
    duplicates: int = 0
    announced: int = 0
    wrong_answers: int = 0
    lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    acknowledged_bookings: int = 0
    unacknowledged_holding: int = 0
    busy_replies: int = 0
    log_errors: int = 0
    replies: dict[str, int] = field(default_factory=dict)


@dataclass
class ChainCheck:
    """What `sms-gateway audit verify` said about the run's database."""

    ok: bool
    summary: str
    problems: list[str]


def verify_chain(config: Path) -> ChainCheck:
    """Run `sms-gateway audit verify` on the run's database, as an operator would.

    Every booking of the crowd (and every change a fault interrupted) must be in
    the audit chain, linked in one line, with no row differing from its record.
    """
    exe = Path(sys.executable).with_name("sms-gateway")
    done = subprocess.run(
        [str(exe), "--config", str(config), "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = done.stdout.splitlines()
    problems = [line.removeprefix("PROBLEM: ") for line in lines if line.startswith("PROBLEM")]
    if done.returncode not in (0, 1):
        problems.append(done.stderr.strip() or f"audit verify exited {done.returncode}")
    head = lines[0] if lines else "no output"
    verdict = "verify OK" if done.returncode == 0 else f"{len(problems)} problem(s)"
    return ChainCheck(done.returncode == 0, f"{head} -> {verdict}", problems)


def check(
    engine: Engine,
    day: date,
    requests: list[Request],
    answers: dict[int, Answer],
    wire: Wire,
    gateway_log: Path,
) -> Checks:
    """Compare the database with every reply the crowd received."""
    c = Checks()
    holding = ", ".join(f"'{s}'" for s in HOLDING)
    day_param = bindparam("day", type_=Date)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT queue_seq, code, phone, status FROM bookings "
                "WHERE office_code = :office AND booking_date = :day"
            ).bindparams(day_param),
            {"office": OFFICE, "day": day},
        ).all()
        c.seat_counter = conn.execute(
            text(
                "SELECT booked FROM session_slots "
                "WHERE office_code = :office AND slot_date = :day AND session_name = :session"
            ).bindparams(day_param),
            {"office": OFFICE, "day": day, "session": SESSION},
        ).scalar()
        for column, attr in (("phone", "phone_duplicates"), ("nik_hash", "nik_duplicates")):
            n = conn.execute(
                text(
                    f"SELECT count(*) FROM (SELECT {column} FROM bookings "
                    f"WHERE status IN ({holding}) GROUP BY {column} HAVING count(*) > 1) AS d"
                )
            ).scalar_one()
            setattr(c, attr, int(n))
        c.queue_duplicates = int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM bookings "
                    "GROUP BY office_code, booking_date, queue_seq HAVING count(*) > 1) AS d"
                )
            ).scalar_one()
        )
    # Counted on the rows: a queue number handed out twice would collapse in the dict.
    c.active = sum(1 for row in rows if row.status in HOLDING)
    bookings = {int(seq): (code, phone, status) for seq, code, phone, status in rows}
    c.oversold = max(0, c.active - QUOTA)

    batal_phones = {r.phone for r in requests if r.text == "BATAL"}
    kinds: Counter[str] = Counter()
    parsed: dict[int, tuple[str, dict[str, str]]] = {}
    acknowledged: set[str] = set()
    announced_codes: set[str] = set()
    for req in requests:
        # The tally is the replay's; the recovery probes are checked all the same.
        tally = kinds if req.kind != "probe" else Counter()
        answer = answers.get(req.index)
        if answer is None or answer.status == 0:
            tally["(no answer)"] += 1
            continue
        if answer.status != 200:
            tally[f"(HTTP {answer.status})"] += 1
            continue
        kind, fields = parsed[req.index] = classify(wire.sms_text(answer.body))
        tally[kind] += 1
        command = req.text.split()[0]
        if any(kind in only and command != cmd for cmd, only in ANSWERS_ONLY.items()):
            c.wrong_answers += 1
            c.lost += 1
            if len(c.lost_examples) < 10:
                c.lost_examples.append(f"#{req.index} {req.kind} {req.text!r} answered {kind}")
            continue
        queue = fields.get("queue")
        if queue is None:
            continue
        c.announced += 1
        if "code" in fields:
            announced_codes.add(fields["code"])
        if kind == "booked":
            acknowledged.add(fields.get("code", queue))
        problem = _booking_problem(kind, fields, req, bookings, batal_phones)
        if problem:
            c.lost += 1
            if len(c.lost_examples) < 10:
                c.lost_examples.append(f"#{req.index} {req.kind} {req.phone}: {queue} {problem}")
    c.acknowledged_bookings = len(acknowledged)
    c.unacknowledged_holding = sum(
        1
        for code, _, status in bookings.values()
        if status in HOLDING and code not in announced_codes
    )
    c.busy_replies = sum(1 for kind, _ in parsed.values() if kind == "busy")
    c.replies = dict(kinds.most_common())

    # A provider retry must get its original's reply, word for word.
    for req in requests:
        if req.original is None:
            continue
        mine, theirs = parsed.get(req.index), parsed.get(req.original)
        if mine and theirs and "busy" not in (mine[0], theirs[0]):
            a, b = answers[req.index], answers[req.original]
            if wire.sms_text(a.body) != wire.sms_text(b.body):
                c.retry_mismatches += 1
    c.duplicates = c.phone_duplicates + c.nik_duplicates + c.queue_duplicates + c.retry_mismatches

    c.log_errors = count_log_errors(gateway_log)
    return c


def count_log_errors(log: Path) -> int:
    """Count logged tracebacks (a chained one once) and "database is locked" lines."""
    count = 0
    chained = False
    for line in log.read_text(errors="replace").splitlines():
        if "database is locked" in line or ("Traceback" in line and not chained):
            count += 1
        # "The above exception was the direct cause of the following exception:" and
        # "During handling of the above exception, another exception occurred:"
        # introduce the second half of one logged error, not a new one.
        if line.strip():
            chained = "above exception" in line
    return count


def _booking_problem(
    kind: str,
    fields: dict[str, str],
    req: Request,
    bookings: dict[int, tuple[str, str, str]],
    batal_phones: set[str],
) -> str | None:
    """Return why an announced queue number does not match the database, or None."""
    office, _, seq = fields["queue"].rpartition("-")
    found = bookings.get(int(seq)) if office == OFFICE and seq.isdigit() else None
    if found is None:
        return "does not exist"
    code, phone, status = found
    if "code" in fields and fields["code"] != code:
        return f"has code {code}, the reply said {fields['code']}"
    if phone != req.phone:
        return "belongs to another phone"
    if kind in CANCEL_KINDS:
        return None if status == "cancelled" else f"was announced cancelled but is {status}"
    if status in HOLDING or (status == "cancelled" and req.phone in batal_phones):
        return None
    return f"is {status}"


# -- recovery ------------------------------------------------------------------------------


def probe(
    wire: Wire, crowd: Crowd, requests: list[Request], answers: dict[int, Answer]
) -> tuple[bool, int]:
    """Send fresh DAFTARs until PROBES in a row get a real answer; return (ok, failures).

    The probes join the requests and answers, so the checks cover them too.
    """
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    in_a_row = failures = 0
    while in_a_row < PROBES:
        if time.monotonic() > deadline:
            return False, failures
        req = crowd.applicant(len(requests), kind="probe")
        requests.append(req)
        started = time.monotonic()
        status, body = wire.send(req)
        answers[req.index] = Answer(status, int((time.monotonic() - started) * 1e6), body)
        kind, _ = classify(wire.sms_text(body)) if status == 200 else ("", {})
        if status == 200 and kind not in ("busy", "empty", "other"):
            in_a_row += 1
        else:
            in_a_row = 0
            failures += 1
            time.sleep(1.0)
    return True, failures


# -- output --------------------------------------------------------------------------------


def print_report(
    args: argparse.Namespace,
    requests: list[Request],
    gateway: Figures,
    ceiling: Figures | None,
    checks: Checks,
    fault: Fault | None,
) -> tuple[float, int, int]:
    """Print the table and the checks; return ratio, p99 and errors."""
    kinds = Counter(r.kind for r in requests)
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print()
    print(
        f"flash-crowd: {args.requests} requests ({kinds['daftar']} applicants, "
        f"{kinds['retry']} retries, {kinds['same_nik']} same-NIK, "
        f"{kinds['cek'] + kinds['batal']} CEK/BATAL), {args.connections} connections, "
        f"{args.workers} workers, {backend}, {args.transport}"
    )
    print(
        f"{'':10}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'non-2xx':>9}{'no answer':>11}{'>15 s':>7}"
    )
    for f in (gateway, ceiling):
        if f is None:
            continue
        print(
            f"{f.name:10}{f.req_per_s:9.1f}{f.p50_ms:9.1f}{f.p90_ms:9.1f}{f.p99_ms:9.1f}"
            f"{f.max_ms:9.1f}{f.non2xx:9d}{f.unanswered:11d}{f.slow:7d}"
        )
        if not f.complete:
            print(f"  ({f.name}: wrk stopped before every request was through)")
    ratio = gateway.req_per_s / ceiling.req_per_s if ceiling and ceiling.req_per_s else 0.0
    print(f"ratio gateway/ceiling: {ratio:.2f}" if ceiling else "ratio: no ceiling run")
    print()
    print("replies: " + ", ".join(f"{k} {v}" for k, v in checks.replies.items()))
    counter = "?" if checks.seat_counter is None else checks.seat_counter
    print(
        f"seats:      {checks.active} bookings hold a seat, quota {QUOTA}, "
        f"seat counter {counter} -> oversold {checks.oversold}"
    )
    if checks.seat_counter is not None and checks.seat_counter != checks.active:
        print(
            f"  NOTE: the seat counter ({checks.seat_counter}) differs from the bookings "
            f"holding a seat ({checks.active})"
        )
    print(
        f"duplicates: phones {checks.phone_duplicates}, NIKs {checks.nik_duplicates}, "
        f"queue numbers {checks.queue_duplicates}, retries answered differently "
        f"{checks.retry_mismatches} -> {checks.duplicates}"
    )
    print(
        f"lost:       {checks.lost - checks.wrong_answers} of {checks.announced} replies "
        f"announcing a queue number + {checks.wrong_answers} answers to another command "
        f"-> {checks.lost} ({checks.acknowledged_bookings} bookings acknowledged; "
        f"{checks.unacknowledged_holding} held seats never announced)"
    )
    for example in checks.lost_examples:
        print(f"  {example}")
    unanswered = max(gateway.socket_errors, gateway.unanswered)
    errors = gateway.non2xx + unanswered + gateway.slow + checks.log_errors
    print(
        f"errors:     non-2xx {gateway.non2xx} + no answer/socket {unanswered} + "
        f"slower than 15 s {gateway.slow} + logged errors {checks.log_errors} -> {errors} "
        f"(200 'busy' apologies among the replies: {checks.busy_replies})"
    )
    if fault:
        print(
            f"fault:      {fault.mode}: {fault.detail or 'not injected'}; "
            + (
                f"respawned: {'yes' if fault.respawned else 'NO'}; "
                if fault.respawned is not None
                else ""
            )
            + (f"restart took {fault.restart_s} s; " if fault.restart_s else "")
            + f"recovered: {'yes' if fault.recovered else 'NO'}"
            + (f" (after {fault.probes_failed} failed probes)" if fault.probes_failed else "")
        )
    return ratio, round(gateway.p99_ms), errors


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Replay a flash crowd of SMS webhooks against the gateway under gunicorn.",
    )
    parser.add_argument("--requests", type=int, default=20000, help="requests (default 20000)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument(
        "--threads",
        type=int,
        help="wrk threads: must equal --connections, the default (one connection per "
        "thread is what makes matching answers to requests exact)",
    )
    parser.add_argument("--sqlite", action="store_true", help="the embedded SQLite file")
    parser.add_argument("--transport", choices=("twilio", "kannel"), default="twilio")
    parser.add_argument("--fault", choices=("none", "worker-kill", "db-restart"), default="none")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and the database")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the ceiling run")
    args = parser.parse_args(argv)
    if args.threads is None:
        args.threads = args.connections
    if args.threads != args.connections:
        parser.error(
            "--threads must equal --connections: replay.lua matches each answer to its request "
            "exactly only with one connection per wrk thread"
        )
    if args.requests < 1 or args.workers < 1 or args.connections < 1:
        parser.error("--requests, --workers and --connections must be at least 1")
    if args.fault == "db-restart":
        # It restarts a private cluster of its own (so SMS_GATEWAY_BENCH_POSTGRES_URL
        # plays no part): it needs PostgreSQL's server binaries, and not SQLite.
        if args.sqlite:
            parser.error("--fault db-restart restarts PostgreSQL: it cannot be used with --sqlite")
        try:
            pg_bin_dir()
        except BenchError as exc:
            parser.error(str(exc))
        if os.geteuid() == 0 and not shutil.which("runuser"):
            parser.error("--fault db-restart as root needs runuser to run PostgreSQL as postgres")
    if not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk)")
    if not (BIN / "gunicorn").exists():
        parser.error(f"gunicorn is not installed in {BIN.parent} (pip install gunicorn)")
    return args


def run(args: argparse.Namespace, procs: Processes, workdir: Path) -> int:
    """Run the whole benchmark in ``workdir``; return the exit status."""
    cluster = PrivateCluster(workdir, args.keep) if args.fault == "db-restart" else None
    try:
        if cluster:
            cluster.start()
            print(
                f"flash-crowd: private PostgreSQL {cluster.version} cluster in {cluster.dir}, "
                f"127.0.0.1:{cluster.port}, stopped at the end",
                file=sys.stderr,
            )
        db = Database(args.sqlite, workdir, cluster.admin_url if cluster else None)
        kept = "kept at the end (--keep)" if args.keep else "removed at the end"
        print(f"flash-crowd: working in {workdir}, database {db.url}, {kept}", file=sys.stderr)
        try:
            return _run(args, procs, workdir, db, cluster)
        finally:
            procs.stop_all()  # waits for a restart under way before the cluster goes
            if not args.keep and cluster is None:  # a private cluster goes as a whole
                with contextlib.suppress(Exception):
                    db.drop()
    finally:
        if cluster:
            cluster.remove()


def _run(
    args: argparse.Namespace,
    procs: Processes,
    workdir: Path,
    db: Database,
    cluster: PrivateCluster | None,
) -> int:
    auth_token = secrets.token_hex(16)
    kannel_secret = secrets.token_urlsafe(18)[:24]
    day = datetime.now(TIMEZONE).date() + timedelta(days=1)
    db.create()
    config = write_config(workdir, db.url, auth_token, kannel_secret)
    init = subprocess.run(
        [str(BIN / "sms-gateway"), "--config", str(config), "init-db"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if init.returncode != 0:
        raise BenchError(f"sms-gateway init-db failed:\n{init.stdout}{init.stderr}")

    port = free_port()
    wire = Wire(args.transport, port, auth_token, kannel_secret)
    crowd = Crowd(day, args.transport)
    requests = crowd.build(args.requests, gap=2 * args.connections)
    requests_file = workdir / "requests.tsv"
    with requests_file.open("w", encoding="utf-8") as f:
        f.writelines(wire.line(r) for r in requests)
    print(
        f"flash-crowd: {len(requests)} requests for {day:%d-%m-%Y} in {requests_file}; "
        f"gateway on port {port} ({'SQLite' if args.sqlite else db.name})",
        file=sys.stderr,
    )

    gateway_proc, gateway_log = start_gunicorn(
        procs,
        "sms_gateway.wsgi:app",
        port=port,
        workers=args.workers,
        workdir=workdir,
        name="gateway",
        SMS_GATEWAY_CONFIG=str(config),
    )

    fault = None if args.fault == "none" else Fault(args.fault)
    injector = Injector(fault, procs, gateway_proc.pid, db, workdir, cluster) if fault else None
    gateway, answers = replay(
        procs,
        name="gateway",
        port=port,
        requests_file=requests_file,
        total=len(requests),
        connections=args.connections,
        workdir=workdir,
        at_one_third=injector,
    )
    if injector:
        injector.settle(args.workers)
    recovered, fault_probes = probe(wire, crowd, requests, answers)
    if fault:
        fault.recovered, fault.probes_failed = recovered, fault_probes
    procs.stop(gateway_proc)

    engine = create_engine(db.url)
    try:
        checks = check(engine, day, requests, answers, wire, gateway_log)
    finally:
        engine.dispose()

    ceiling = None
    if not args.no_ceiling:
        ceiling_port = free_port()
        ceiling_proc, _ = start_gunicorn(
            procs,
            "bench.ceiling_app:app",
            port=ceiling_port,
            workers=args.workers,
            workdir=workdir,
            name="ceiling",
        )
        ceiling, _ = replay(
            procs,
            name="ceiling",
            port=ceiling_port,
            requests_file=requests_file,
            total=args.requests,
            connections=args.connections,
            workdir=workdir,
        )
        procs.stop(ceiling_proc)

    ratio, p99, errors = print_report(args, requests, gateway, ceiling, checks, fault)
    chain = verify_chain(config)
    print(f"chain:      {chain.summary}")
    failures = []
    if not chain.ok:
        failures.append("the audit chain does not verify: " + "; ".join(chain.problems[:3]))
    if checks.oversold or checks.duplicates or checks.lost:
        failures.append("oversold, duplicated or lost bookings")
    if checks.acknowledged_bookings == 0:
        failures.append("nothing was booked: the run measured nothing")
    if fault and not (fault.injected and fault.recovered and fault.respawned is not False):
        failures.append(f"the {fault.mode} fault was not injected or not recovered from")
    if args.json:
        report = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "day": day.isoformat(),
            "gateway": asdict(gateway),
            "ceiling": asdict(ceiling) if ceiling else None,
            "ratio": round(ratio, 4),
            "checks": asdict(checks),
            "fault": asdict(fault) if fault else None,
            "chain": asdict(chain),
            "errors": errors,
            "failures": failures,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for failure in failures:
        print(f"FAILED: {failure}")
    print(
        f"flash-crowd: ratio={ratio:.2f} p99_ms={p99} errors={errors} "
        f"oversold={checks.oversold} duplicates={checks.duplicates} lost={checks.lost}"
    )
    return 1 if failures else 0


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Let SIGTERM and SIGINT unwind like Ctrl-C, so the cleanup in ``finally`` runs.

    SIGINT is set explicitly: a shell starts background jobs with it ignored,
    and Python then never raises KeyboardInterrupt.
    """

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="flash-crowd-"))
    procs = Processes()
    try:
        with terminate_as_interrupt():
            return run(args, procs, workdir)
    except BenchError as exc:
        print(f"flash-crowd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("flash-crowd: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
