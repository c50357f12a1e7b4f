"""Run the real Gammu SMS daemon (gammu-smsd 1.42) against Gammu's dummy phone, for tests.

The dummy driver (``[gammu] model = dummy``) keeps the "phone" in a directory: an incoming
SMS is an smsbackup file in ``<device>/sms/1/`` (folder 1 is the Inbox). SMSD polls it,
stores each message in the files backend's inbox folder, runs ``RunOnReceive`` and deletes
it from the phone. Replies queued with ``gammu-smsd-inject`` land in the outbox folder; SMSD
"sends" them through the dummy and moves the files to the sent folder.

Behaviour of Gammu 1.42 (Debian 1.42.0-8) found by experiment; the tests in
``test_gammu_harness.py`` pin most of it:

* RunOnReceive runs through ``/bin/sh -c "<command> <ids>"``; the ids are inbox file
  *names* (no directory). ``InboxFormat = standard`` (Gammu's default) writes one file per
  physical part, so a 2-part SMS gives two arguments ``IN<date>_<time>_<serial>_<sender>_00.txt``
  and ``..._01.txt``; ``InboxFormat = detail`` (used here) writes one smsbackup file per message,
  still named ``.txt``, so there is always one argument.
* Environment: ``SMS_MESSAGES`` (physical parts), ``SMS_n_NUMBER``, ``SMS_n_TEXT``,
  ``SMS_n_CLASS`` (-1), ``SMS_n_REFERENCE`` (0), ``PHONE_ID`` ("" unless PhoneID is set) and
  ``DECODED_PARTS``: 0 for a single SMS (no ``DECODED_*`` variables), 1 for a concatenated
  one, with ``DECODED_1_TEXT`` holding the whole reassembled text. ``SMS_n_TEXT`` of a long
  message are the raw part texts, split mid-word.
* Texts are converted to the *locale's* charset: under a UTF-8 locale they are exact UTF-8
  (also ``ç``, ``€`` and emoji); under the C locale every non-ASCII character becomes ``?``,
  in the environment and in the inbox files. So SMSD must run with a UTF-8 locale; the
  harness sets ``LANG``/``LC_ALL`` to ``C.UTF-8``.
* SMSD waits for RunOnReceive without any limit: the documented two-minute cap never fires in
  1.42 (``waitpid`` blocks). A RunOnReceive that took 140 s held SMSD for 140 s, during which
  nothing was received or sent. The script's stdout and stderr are captured and logged as
  ``Subprocess output: ...``; its exit status is logged (``Process finished successfully`` /
  ``Process failed with exit status N``) and otherwise ignored: no retry, no RunOnFailure; the
  message is already saved in the inbox folder and has been deleted from the phone.
* RunOnFailure runs only when the phone connection fails (argument ``INIT``, every retry) or a
  message could not be sent (argument: the outbox file name), without the message environment.
* The dummy driver records nothing about sent messages: ``operations.log`` is truncated by
  every process that opens the phone and ``DUMMY_SendSMS`` writes nothing. What SMSD sent is
  read from the sent folder.
* ``gammu-smsd-inject`` does not need the daemon: it only writes
  ``OUTC<yyyymmdd>_<hhmmss>_00_<number>_sms0.smsbackup`` into the outbox (``OutboxFormat =
  detail``, the default): an INI file with one ``[SMSBackupNNN]`` section per part, ``Number =
  "<number>"``, ``Coding``, ``UDH`` for multipart, and the text as hex UTF-16BE in ``Text00``,
  ``Text01``... It prints ``Written message with ID <path>`` on stdout (its log goes there too).
* ``-text`` alone truncates the reply to 160 characters and keeps ``Coding = Default`` even for
  characters outside GSM 03.38 (``ç``, emoji); under the C locale it even cuts the text at the
  first non-ASCII byte. ``-autolen <n>`` picks the coding from the text (Default, or Unicode
  when needed) and splits long texts into a multipart message; ``-unicode`` forces UCS-2;
  ``-textutf8`` reads the argument as UTF-8 whatever the locale.
* Sent smsbackup files are mangled by SMSD 1.42 (each part's section appears more than once,
  see ``_dedupe_sections``); the message itself went out correctly.
* A USSD answer (``gammu-smsd-inject USSD '*888#'``) reaches RunOnReceive like a received SMS
  with ``SMS_1_NUMBER`` empty and ``SMS_1_CLASS=127``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.processes import group_members, stop_process

T = TypeVar("T")

GAMMU = "/usr/bin/gammu"
GAMMU_SMSD = "/usr/bin/gammu-smsd"
GAMMU_SMSD_INJECT = "/usr/bin/gammu-smsd-inject"
GAMMU_BINARIES = (GAMMU, GAMMU_SMSD, GAMMU_SMSD_INJECT)
# Same Debian package as gammu-smsd; it reads SMSD's shared-memory status, which is the only
# positive sign that SMSD has connected to the phone (its log says nothing at DebugLevel 1).
GAMMU_SMSD_MONITOR = "/usr/bin/gammu-smsd-monitor"

# SMSD turns message text into the locale's charset; under C/POSIX non-ASCII becomes "?".
UTF8_LOCALE = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}

# Safety net: gammu-smsd --suicide kills the daemon even if pytest dies without stop().
MAX_LIFETIME_SECONDS = 900

_LOG_LINE = re.compile(r"^\w{3} \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} [\w.-]+\[\d+\]: (?P<msg>.*)$")
_RUN_START = re.compile(r"^Starting run on (?P<event>[a-z ]+): (?P<command>.*)$")
_RUN_FAILED = re.compile(r"^Process failed with exit status (?P<status>\d+)$")
_RUN_KILLED = re.compile(r"^Process killed by signal (?P<signal>\d+)$")
_RUN_END = (
    "Process finished successfully",
    "Waited two minutes for child process, giving up",
    "Failed to wait for process",
)
_OUTPUT = "Subprocess output: "
_INIT_ERROR = "Error at init connection"


class GammuHarnessError(RuntimeError):
    """SMSD or one of the Gammu tools did not do what the harness needed."""


class GammuTimeout(GammuHarnessError, AssertionError):
    """Waited too long for SMSD; the message carries the end of its log."""


def gammu_available() -> str | None:
    """Return None when the Gammu tools are installed, else a reason for ``pytest.skip``."""
    missing = [b for b in (*GAMMU_BINARIES, GAMMU_SMSD_MONITOR) if not os.access(b, os.X_OK)]
    if missing:
        return (
            "Gammu is not installed (missing " + ", ".join(missing) + "); "
            "install the Debian packages gammu and gammu-smsd"
        )
    return None


@dataclass
class SentSMS:
    """A message SMSD sent (or has queued), decoded from its spool file."""

    number: str
    text: str
    path: Path
    coding: str = ""  # smsbackup Coding of the first part, e.g. Default_No_Compression
    parts: int = 1


@dataclass
class SMSDRun:
    """One program SMSD ran (RunOnReceive, RunOnFailure, RunOnSent), read from its log."""

    event: str  # "receive", "failure", "sent" or "incoming call"
    command: str  # the shell command line, ids included
    ids: list[str] = field(default_factory=list)  # what SMSD appended to the configured command
    outcome: str | None = None  # the log line that ended SMSD's wait; None while it runs
    exit_status: int | None = None
    output: str = ""  # the program's stdout and stderr, as SMSD logged them

    @property
    def finished(self) -> bool:
        return self.outcome is not None


def _ini_value(value: str) -> str:
    # Gammu's INI reader has no escapes or continuation lines.
    if "\n" in value or "\r" in value:
        raise ValueError(f"smsdrc values must be one line: {value!r}")
    return value


def _decode_ucs2_hex(data: str) -> str:
    raw = bytes.fromhex(data)
    return raw.decode("utf-16-be", errors="replace")


def _parse_smsbackup(text: str) -> list[dict[str, str]]:
    """Return the ``[SMSBackupNNN]`` sections of an smsbackup file, in file order."""
    sections: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = {} if line[1:-1].lower().startswith("smsbackup") else None
            if current is not None:
                sections.append(current)
            continue
        if current is not None and "=" in line:
            key, value = line.split("=", 1)
            current[key.strip().lower()] = value.strip()
    return sections


def _dedupe_sections(sections: list[dict[str, str]]) -> list[dict[str, str]]:
    """Drop the copies of parts that SMSD 1.42 leaves in every sent smsbackup file.

    After sending each part, ``SMSDFiles_AddSentSMSInfo`` rewrites the outbox file to set
    ``MessageReference`` but takes the end of that line from the first newline of the *file*:
    it writes everything up to the MessageReference line, the new line, then the whole file
    again minus its first line. A 1-part message ends up with 2 sections, a 2-part one with
    4 (part 1 three times). Parts differ by UDH (sequence number) and text, so keep the
    first section of each (UDH, text).
    """
    seen: set[tuple[str, ...]] = set()
    unique = []
    for section in sections:
        key = (section.get("udh", ""), *(section[k] for k in _text_keys(section)))
        if key not in seen:
            seen.add(key)
            unique.append(section)
    return unique


def _text_keys(section: dict[str, str]) -> list[str]:
    return sorted(k for k in section if re.fullmatch(r"text\d+", k))


def _number_from_outbox_name(name: str) -> str:
    # OUT<number>.<ext>, OUT<prio>_<number>_<serial>.<ext> or
    # OUT<prio><date>_<time>_<serial>_<number>_<note>.<ext> (gammu-smsd-files(7)).
    stem = name.split(".", 1)[0].removeprefix("OUT")
    fields = stem.split("_")
    if len(fields) >= 5:
        return fields[3]
    if len(fields) == 3:
        return fields[1]
    return fields[0]


def read_spool_message(path: Path) -> SentSMS | None:
    """Decode an outbox/sent/error file; None for an smsbackup file without a message."""
    data = path.read_bytes()
    if b"[SMSBackup" in data:
        sections = _dedupe_sections(_parse_smsbackup(data.decode("utf-8", errors="replace")))
        if not sections:
            return None
        texts = []
        for section in sections:
            payload = "".join(section[k] for k in _text_keys(section))
            # 8-bit payloads are raw bytes, not text.
            texts.append("" if section.get("coding") == "8bit" else _decode_ucs2_hex(payload))
        first = sections[0]
        return SentSMS(
            number=first.get("number", "").strip('"'),
            text="".join(texts),
            path=path,
            coding=first.get("coding", ""),
            parts=len(sections),
        )
    # OutboxFormat = unicode writes UTF-16 with a BOM; standard uses the locale (UTF-8 here).
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
        coding = "Unicode_No_Compression"
    else:
        text = data.decode("utf-8", errors="replace")
        coding = ""
    return SentSMS(_number_from_outbox_name(path.name), text, path, coding)


def _read_spool(directory: Path) -> list[SentSMS]:
    if not directory.is_dir():
        return []
    found: list[tuple[int, str, SentSMS]] = []
    for path in directory.iterdir():
        try:
            # SMSD rewrites each file after sending and renames it into sent/: ctime is the
            # order in which messages went out.
            ctime = path.stat().st_ctime_ns
            message = read_spool_message(path)
        except (FileNotFoundError, IsADirectoryError):
            continue  # moved by SMSD while we looked
        if message is not None:
            found.append((ctime, path.name, message))
    return [message for _, _, message in sorted(found, key=lambda item: item[:2])]


class GammuHarness:
    """One gammu-smsd with the dummy phone and the files backend, all under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        run_on_receive: str,
        *,
        run_on_failure: str | None = None,
        env: dict[str, str] | None = None,
        smsd_options: Mapping[str, str] | None = None,
    ) -> None:
        """Write ``<workdir>/smsdrc`` and create the phone and spool directories.

        ``env`` is added to SMSD's environment, which RunOnReceive inherits. ``smsd_options``
        adds or overrides ``[smsd]`` settings (e.g. ``{"PhoneID": "PMK"}``).
        """
        self.workdir = Path(workdir).resolve()
        self.run_on_receive = run_on_receive
        self.run_on_failure = run_on_failure
        self.env = dict(env or {})
        self.phone_dir = self.workdir / "phone"
        self.spool_dir = self.workdir / "spool"
        self.inbox_dir = self.spool_dir / "inbox"
        self.outbox_dir = self.spool_dir / "outbox"
        self.sent_dir = self.spool_dir / "sent"
        self.error_dir = self.spool_dir / "error"
        self.log_path = self.workdir / "smsd.log"
        self.output_path = self.workdir / "smsd.out"  # gammu-smsd's own stdout/stderr
        self.smsdrc = self.workdir / "smsdrc"
        # savesms writes into a private dummy phone first, see put_incoming().
        self._staging_dir = self.workdir / "staging-phone"
        self._staging_rc = self.workdir / "staging.gammurc"
        self._proc: subprocess.Popen[bytes] | None = None
        self._pgid: int | None = None

        for directory in (self.inbox_dir, self.outbox_dir, self.sent_dir, self.error_dir):
            directory.mkdir(parents=True, exist_ok=True)
        (self.phone_dir / "sms" / "1").mkdir(parents=True, exist_ok=True)

        smsd: dict[str, str] = {
            "Service": "files",
            # Trailing slashes are required: SMSD concatenates path and file name.
            "InboxPath": f"{self.inbox_dir}/",
            "OutboxPath": f"{self.outbox_dir}/",
            "SentSMSPath": f"{self.sent_dir}/",
            "ErrorSMSPath": f"{self.error_dir}/",
            # One smsbackup file per received message (all parts, sender, time): replayable.
            "InboxFormat": "detail",
            "OutboxFormat": "detail",
            "RunOnReceive": run_on_receive,
            "LogFile": str(self.log_path),
            "DebugLevel": "1",
            # Poll every second instead of every 15-30 s.
            "ReceiveFrequency": "1",
            "CommTimeout": "1",
            "LoopSleep": "1",
            "StatusFrequency": "0",
            # The dummy phone has no PIN, battery, signal or network worth polling.
            "CheckSecurity": "0",
            "CheckBattery": "0",
            "CheckSignal": "0",
            "CheckNetwork": "0",
            "DeliveryReport": "no",
        }
        if run_on_failure is not None:
            smsd["RunOnFailure"] = run_on_failure
        for key, value in (smsd_options or {}).items():
            # Gammu's INI keys are case-insensitive: replace, do not duplicate.
            for existing in [k for k in smsd if k.lower() == key.lower()]:
                del smsd[existing]
            smsd[key] = value

        lines = [
            "# Written by tests/gammu_harness.py",
            "[gammu]",
            "model = dummy",
            "connection = none",
            f"device = {self.phone_dir}/",
            "",
            "[smsd]",
        ]
        lines += [f"{key} = {_ini_value(value)}" for key, value in smsd.items()]
        self.smsdrc.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._staging_rc.write_text(
            f"[gammu]\nmodel = dummy\nconnection = none\ndevice = {self._staging_dir}/\n",
            encoding="utf-8",
        )

    # -- environment and helpers ------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The environment SMSD (and so RunOnReceive) and the Gammu tools run with."""
        return {**os.environ, **UTF8_LOCALE, **self.env}

    def _run_tool(self, argv: Sequence[str], timeout: float = 30) -> str:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            env=self.environment(),
            cwd=self.workdir,
            timeout=timeout,
            check=False,
        )
        stdout = result.stdout.decode("utf-8", errors="replace")
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", errors="replace")
            raise GammuHarnessError(
                f"{' '.join(argv[:1])} failed with exit status {result.returncode}:\n"
                f"{stdout}{stderr}"
            )
        return stdout

    @staticmethod
    def _autolen(text: str) -> str:
        # -autolen is an upper bound on characters read; count UTF-16 units so that
        # characters outside the BMP (emoji) are never cut off.
        return str(max(1, len(text.encode("utf-16-le")) // 2))

    # -- incoming ---------------------------------------------------------------------------

    def put_incoming(self, sender: str, text: str) -> None:
        """Put an unread SMS from ``sender`` into the dummy phone's inbox.

        Runs ``gammu savesms TEXT -folder 1 -unread -sender <sender> -autolen <n>
        -textutf8 <text>``: ``-autolen`` makes a text over one SMS (160 GSM-7 or 70 UCS-2
        characters) a real concatenated message with a UDH per part, and picks Unicode
        coding for characters outside GSM 03.38. savesms writes into a private staging
        phone; the part files are then hard-linked into the live phone, so a running SMSD
        never reads a half-written file.
        """
        shutil.rmtree(self._staging_dir, ignore_errors=True)
        self._staging_dir.mkdir(parents=True)
        self._run_tool(
            [
                GAMMU,
                "-c",
                str(self._staging_rc),
                "savesms",
                "TEXT",
                "-folder",
                "1",
                "-unread",
                "-sender",
                sender,
                "-autolen",
                self._autolen(text),
                "-textutf8",
                text,
            ]
        )
        staged = sorted((self._staging_dir / "sms" / "1").iterdir(), key=lambda p: int(p.name))
        if not staged:
            raise GammuHarnessError("gammu savesms wrote no message")
        inbox = self.phone_dir / "sms" / "1"
        location = 1
        for part in staged:
            while True:
                try:
                    # link() fails if the location is taken, unlike rename(): no overwrite.
                    os.link(part, inbox / str(location))
                    break
                except FileExistsError:
                    location += 1
            location += 1
        shutil.rmtree(self._staging_dir, ignore_errors=True)

    def phone_inbox(self) -> list[Path]:
        """Messages still in the dummy phone's inbox (SMSD deletes what it has processed)."""
        return sorted((self.phone_dir / "sms" / "1").iterdir(), key=lambda p: int(p.name))

    def inbox(self) -> list[Path]:
        """Files SMSD stored in its inbox folder, oldest first."""
        return sorted(self.inbox_dir.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))

    # -- the daemon -------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 15) -> None:
        """Start gammu-smsd in the background and wait until it has connected to the phone."""
        if self._proc is not None and self._proc.poll() is None:
            raise GammuHarnessError("gammu-smsd is already running")
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.output_path.open("ab") as output:
            # A new session makes SMSD the leader of a process group that also holds the
            # RunOnReceive children, so stop() can end them all.
            self._proc = subprocess.Popen(
                [
                    GAMMU_SMSD,
                    "--config",
                    str(self.smsdrc),
                    f"--suicide={MAX_LIFETIME_SECONDS}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.workdir,
                start_new_session=True,
            )
        self._pgid = self._proc.pid
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                status = self._proc.returncode
                self.stop()
                raise GammuHarnessError(
                    f"gammu-smsd exited with status {status} while starting\n{self._diagnostics()}"
                )
            new_log = self._read_log(log_offset)
            if _INIT_ERROR in new_log:
                self.stop()
                raise GammuHarnessError(
                    f"gammu-smsd could not open the dummy phone\n{self._diagnostics()}"
                )
            if "Starting phone communication" in new_log and self._connected():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise GammuTimeout(f"gammu-smsd not up after {timeout} s\n{self._diagnostics()}")
            time.sleep(0.05)

    def _connected(self) -> bool:
        # SMSD fills IMEI into its shared-memory status once the phone answered.
        result = subprocess.run(
            [GAMMU_SMSD_MONITOR, "--config", str(self.smsdrc), "--loops=1", "--delay=0"],
            capture_output=True,
            env=self.environment(),
            cwd=self.workdir,
            timeout=10,
            check=False,
        )
        match = re.search(rb"^IMEI: *(\S+)", result.stdout, re.MULTILINE)
        return match is not None

    def stop(self) -> None:
        """SIGTERM gammu-smsd (and its running children), SIGKILL after 10 s; idempotent."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        try:
            # The group's SIGKILL also ends a RunOnReceive child that outlived SMSD
            # (it ignored SIGTERM, or SMSD was killed).
            stop_process(proc, grace=10, group=True)
        finally:
            deadline = time.monotonic() + 5
            while group_members(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.02)

    def processes(self) -> list[int]:
        """PIDs alive in the process group of the last SMSD started (for leak checks)."""
        return [] if self._pgid is None else group_members(self._pgid)

    def __enter__(self) -> GammuHarness:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- logs -------------------------------------------------------------------------------

    def _read_log(self, offset: int = 0) -> str:
        """The log from byte ``offset`` on (RunOnReceive output in it need not be UTF-8)."""
        try:
            return self.log_path.read_bytes()[offset:].decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self) -> str:
        """SMSD's log file (kept across restarts)."""
        return self._read_log()

    def _diagnostics(self, lines: int = 60) -> str:
        log_tail = "\n".join(self._read_log().splitlines()[-lines:])
        try:
            output = self.output_path.read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            output = ""
        return f"--- {self.log_path} (end) ---\n{log_tail}\n--- gammu-smsd output ---\n{output}"

    def runs(self, event: str | None = None) -> list[SMSDRun]:
        """Programs SMSD started, in order, from its log; ``event`` filters (e.g. "receive")."""
        configured = {"receive": self.run_on_receive, "failure": self.run_on_failure or ""}
        runs: list[SMSDRun] = []
        current: SMSDRun | None = None
        in_output = False
        for raw in self._read_log().splitlines():
            match = _LOG_LINE.match(raw)
            if match is None:
                # Continuation of a multi-line "Subprocess output" entry.
                if in_output and current is not None:
                    current.output += "\n" + raw
                continue
            msg = match["msg"]
            in_output = False
            if start := _RUN_START.match(msg):
                command = start["command"].rstrip()
                base = configured.get(start["event"], "")
                ids = command[len(base) :].split() if base and command.startswith(base) else []
                current = SMSDRun(event=start["event"], command=command, ids=ids)
                runs.append(current)
            elif current is None:
                continue
            elif msg.startswith(_OUTPUT):
                current.output += ("\n" if current.output else "") + msg[len(_OUTPUT) :]
                in_output = True
            elif current.outcome is None:
                if failed := _RUN_FAILED.match(msg):
                    current.outcome, current.exit_status = msg, int(failed["status"])
                elif _RUN_KILLED.match(msg):
                    current.outcome = msg
                elif msg in _RUN_END:
                    current.outcome = msg
                    if msg == _RUN_END[0]:
                        current.exit_status = 0
        for run in runs:
            run.output = run.output.rstrip("\n")
        return [r for r in runs if event is None or r.event == event]

    def wait_received(self, count: int = 1, timeout: float = 20) -> list[SMSDRun]:
        """Wait until RunOnReceive has finished ``count`` times in total; return those runs."""
        return self._wait_for(
            lambda: [r for r in self.runs("receive") if r.finished],
            count,
            timeout,
            lambda done: f"RunOnReceive finished {len(done)} of {count} times in {timeout} s",
        )

    def _wait_for(
        self,
        found: Callable[[], list[T]],
        count: int,
        timeout: float,
        describe: Callable[[list[T]], str],
    ) -> list[T]:
        """Poll ``found`` until it has ``count`` items; a dead SMSD or the timeout raises."""
        deadline = time.monotonic() + timeout
        while True:
            items = found()
            if len(items) >= count:
                return items
            self._check_alive()
            if time.monotonic() > deadline:
                raise GammuTimeout(f"{describe(items)}\n{self._diagnostics()}")
            time.sleep(0.05)

    def _check_alive(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            status = self._proc.returncode
            self.stop()
            raise GammuHarnessError(f"gammu-smsd died (status {status})\n{self._diagnostics()}")

    # -- outgoing ---------------------------------------------------------------------------

    def inject(self, number: str, text: str, *options: str) -> Path:
        """Queue a text with gammu-smsd-inject (no daemon needed); return the outbox file.

        ``options`` are savesms TEXT options; the default ``-autolen <n>`` chooses GSM-7 or
        Unicode from the text and splits long texts. The text is passed with ``-textutf8``.
        """
        args = list(options) if options else ["-autolen", self._autolen(text)]
        stdout = self._run_tool(
            [
                GAMMU_SMSD_INJECT,
                "-c",
                str(self.smsdrc),
                "TEXT",
                number,
                *args,
                "-textutf8",
                text,
            ]
        )
        match = re.search(r"^Written message with ID (.+)$", stdout, re.MULTILINE)
        if match is None:
            raise GammuHarnessError(f"gammu-smsd-inject gave no message ID:\n{stdout}")
        return Path(match[1].strip())

    def queued(self) -> list[SentSMS]:
        """Messages waiting in the outbox folder."""
        return _read_spool(self.outbox_dir)

    def sent(self) -> list[SentSMS]:
        """Messages SMSD has sent through the dummy phone (the sent folder), oldest first."""
        return _read_spool(self.sent_dir)

    def failed(self) -> list[SentSMS]:
        """Messages SMSD gave up on (the error folder)."""
        return _read_spool(self.error_dir)

    def wait_sent(self, count: int = 1, timeout: float = 20) -> list[SentSMS]:
        """Wait until at least ``count`` messages are in the sent folder; return them all."""
        return self._wait_for(
            self.sent,
            count,
            timeout,
            lambda messages: (
                f"{len(messages)} of {count} messages sent in {timeout} s; "
                f"outbox: {[m.path.name for m in self.queued()]}"
            ),
        )


@contextmanager
def running_gammu(workdir: Path, run_on_receive: str, **kwargs: Any) -> Iterator[GammuHarness]:
    """Start a GammuHarness (``kwargs`` as for its constructor), yield it, always stop it."""
    harness = GammuHarness(workdir, run_on_receive, **kwargs)
    try:
        harness.start()
        yield harness
    finally:
        harness.stop()
