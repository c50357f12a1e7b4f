"""Tests of tests/gammu_harness.py against the real gammu-smsd, with a stand-in RunOnReceive.

The stand-in does what ``sms-gateway gammu-receive`` will do: read the message from the
environment SMSD sets and queue the reply with gammu-smsd-inject. It also records its
environment and argv, so these tests pin what Gammu 1.42 actually hands over.

Skipped when Gammu is not installed, unless ``SMS_GATEWAY_REQUIRE_GAMMU=1`` (as in CI),
where that is a failure.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.gammu_harness import (
    GAMMU_SMSD_INJECT,
    GammuHarness,
    gammu_available,
    read_spool_message,
    running_gammu,
)

_REASON = gammu_available()
if _REASON is not None:
    if os.environ.get("SMS_GATEWAY_REQUIRE_GAMMU") == "1":
        pytest.fail(_REASON + " (SMS_GATEWAY_REQUIRE_GAMMU=1)", pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)

SENDER = "+6281234567890"

# The stand-in RunOnReceive. SMSD closes its file descriptors and captures stdout/stderr,
# so it writes its record to the file named by STANDIN_RECORD (one JSON line per run).
STANDIN = textwrap.dedent(
    """\
    import json, os, subprocess, sys, time

    env = {k: v for k, v in os.environ.items()
           if k.startswith(("SMS_", "DECODED_", "PHONE_")) and not k.startswith("SMS_GATEWAY_")}
    with open(os.environ["STANDIN_RECORD"], "a", encoding="utf-8") as f:
        f.write(json.dumps({"argv": sys.argv[1:], "env": env,
                            "extra": os.environ.get("STANDIN_EXTRA")}) + "\\n")
    time.sleep(float(os.environ.get("STANDIN_SLEEP", "0")))
    parts = int(env.get("DECODED_PARTS", "0"))
    if parts:
        text = "".join(env.get(f"DECODED_{i}_TEXT", "") for i in range(1, parts + 1))
    else:
        n = int(env.get("SMS_MESSAGES", "1"))
        text = "".join(env.get(f"SMS_{i}_TEXT", "") for i in range(1, n + 1))
    if os.environ.get("STANDIN_REPLY", "1") == "1":
        subprocess.run([os.environ["STANDIN_INJECT"], "-c", os.environ["STANDIN_SMSDRC"],
                        "TEXT", env["SMS_1_NUMBER"], "-text", "OK " + text], check=True)
    print("stand-in handled", env.get("SMS_1_NUMBER"))
    sys.exit(int(os.environ.get("STANDIN_EXIT", "0")))
    """
)

# A stand-in RunOnFailure: proves it ran, and with which arguments.
ON_FAILURE = textwrap.dedent(
    """\
    import json, os, sys
    with open(os.environ["ONFAILURE_RECORD"], "a", encoding="utf-8") as f:
        f.write(json.dumps(sys.argv[1:]) + "\\n")
    """
)


def python_command(script: Path) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def records(path: Path) -> list[Any]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def make_harness(tmp_path: Path, **env: str) -> GammuHarness:
    """A harness whose RunOnReceive is the stand-in; ``env`` tunes the stand-in."""
    script = tmp_path / "standin.py"
    script.write_text(STANDIN, encoding="utf-8")
    base = {
        "STANDIN_RECORD": str(tmp_path / "standin.jsonl"),
        "STANDIN_SMSDRC": str(tmp_path / "smsdrc"),
        "STANDIN_INJECT": GAMMU_SMSD_INJECT,
    }
    return GammuHarness(tmp_path, python_command(script), env={**base, **env})


def test_single_sms_runs_receive_and_the_reply_is_sent(tmp_path: Path) -> None:
    h = make_harness(tmp_path, STANDIN_EXTRA="inherited")
    h.put_incoming(SENDER, "DAFTAR 3528011505900001 8/12")
    with h:
        runs = h.wait_received()
        sent = h.wait_sent()

    [record] = records(tmp_path / "standin.jsonl")
    assert record["env"] == {
        "SMS_MESSAGES": "1",
        "DECODED_PARTS": "0",
        "SMS_1_NUMBER": SENDER,
        "SMS_1_TEXT": "DAFTAR 3528011505900001 8/12",
        "SMS_1_CLASS": "-1",
        "SMS_1_REFERENCE": "0",
        "PHONE_ID": "",
    }
    assert record["extra"] == "inherited"  # the harness's env reaches RunOnReceive
    # With the files backend the argument is the inbox file's name, without a directory.
    [name] = record["argv"]
    assert name.startswith("IN") and name.endswith(f"_{SENDER}_00.txt")
    assert [p.name for p in h.inbox()] == [name]
    assert runs[0].ids == [name]
    assert runs[0].exit_status == 0
    # SMSD logs the script's stdout and stderr, here with gammu-smsd-inject's chatter.
    assert runs[0].output.endswith(f"stand-in handled {SENDER}")
    assert "Written message with ID" in runs[0].output

    [reply] = sent
    assert (reply.number, reply.text) == (SENDER, "OK DAFTAR 3528011505900001 8/12")
    assert reply.path.parent == h.sent_dir
    assert reply.coding == "Default_No_Compression"
    assert h.queued() == []
    assert h.phone_inbox() == []  # SMSD deleted the message from the phone


def test_long_sms_arrives_as_one_multipart_message(tmp_path: Path) -> None:
    words = " ".join(f"kata{i:03d}" for i in range(38))  # 303 GSM-7 characters: 2 parts
    h = make_harness(tmp_path)
    h.put_incoming(SENDER, words)
    assert len(h.phone_inbox()) == 2  # two physical SMS with a concatenation UDH
    with h:
        h.wait_received()
        [reply] = h.wait_sent()

    [record] = records(tmp_path / "standin.jsonl")
    env = record["env"]
    # One RunOnReceive for the whole message: two physical parts, one decoded part.
    assert env["SMS_MESSAGES"] == "2"
    assert env["DECODED_PARTS"] == "1"
    assert env["DECODED_1_TEXT"] == words
    assert env["SMS_1_TEXT"] + env["SMS_2_TEXT"] == words  # raw parts, split mid-word
    assert len(env["SMS_1_TEXT"]) == 153
    assert env["SMS_1_NUMBER"] == env["SMS_2_NUMBER"] == SENDER
    # InboxFormat = detail: one inbox file, so one argument, for both parts.
    assert len(record["argv"]) == 1
    stored = read_spool_message(h.inbox_dir / record["argv"][0])
    assert stored is not None and (stored.text, stored.parts) == (words, 2)

    # The stand-in replies with plain `-text`, which silently cuts the reply to 160 characters.
    assert reply.text == ("OK " + words)[:160]
    assert reply.parts == 1


def test_long_sms_with_standard_inbox_format_gives_one_file_per_part(tmp_path: Path) -> None:
    words = " ".join(f"kata{i:03d}" for i in range(38))
    script = tmp_path / "standin.py"
    script.write_text(STANDIN, encoding="utf-8")
    env = {"STANDIN_RECORD": str(tmp_path / "standin.jsonl"), "STANDIN_REPLY": "0"}
    with running_gammu(
        tmp_path, python_command(script), env=env, smsd_options={"InboxFormat": "standard"}
    ) as h:
        h.put_incoming(SENDER, words)
        h.wait_received()

    [record] = records(tmp_path / "standin.jsonl")
    assert [name[-7:] for name in record["argv"]] == ["_00.txt", "_01.txt"]
    texts = [(h.inbox_dir / name).read_text(encoding="utf-8") for name in record["argv"]]
    assert "".join(texts) == words


@pytest.mark.parametrize(
    ("text", "coding"),
    [
        ("Cek ñ ü é", "Default_No_Compression"),  # all in the GSM 03.38 default alphabet
        ("Cek ç € ok", "Unicode_No_Compression"),  # ç is not (only Ç is); € is an escape
        ("Antri 😀 ya", "Unicode_No_Compression"),  # outside the BMP: a surrogate pair
    ],
)
def test_non_ascii_text_reaches_receive_as_utf8(tmp_path: Path, text: str, coding: str) -> None:
    h = make_harness(tmp_path)
    h.put_incoming(SENDER, text)
    assert "Coding = " + coding in h.phone_inbox()[0].read_text(encoding="utf-8")
    with h:
        h.wait_received()
        [reply] = h.wait_sent()

    [record] = records(tmp_path / "standin.jsonl")
    assert record["env"]["SMS_1_TEXT"] == text
    assert record["env"]["DECODED_PARTS"] == "0"
    assert reply.text == "OK " + text
    # `-text` without -unicode/-autolen keeps GSM-7 coding even for ç or emoji: a real
    # modem would mangle them. inject() (-autolen) picks the coding; see the next test.
    assert reply.coding == "Default_No_Compression"


def test_receive_text_is_mangled_under_the_c_locale(tmp_path: Path) -> None:
    # Why the harness (and production) must give SMSD a UTF-8 locale.
    h = make_harness(tmp_path, LANG="C", LC_ALL="C", STANDIN_REPLY="0")
    h.put_incoming(SENDER, "Cek ç € ok")
    with h:
        h.wait_received()
    [record] = records(tmp_path / "standin.jsonl")
    assert record["env"]["SMS_1_TEXT"] == "Cek ? ? ok"


def test_inject_picks_unicode_and_splits_long_replies(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    long_text = "Antrian Anda nomor 12. " * 10  # 230 characters
    h.inject(SENDER, "Jadwal: Senin ç €")
    h.inject(SENDER, long_text)
    h.inject(SENDER, "Paksa unicode", "-unicode")
    with h:
        sent = h.wait_sent(3)
    by_text = {m.text: m for m in sent}
    assert by_text["Jadwal: Senin ç €"].coding == "Unicode_No_Compression"
    assert (by_text[long_text].coding, by_text[long_text].parts) == ("Default_No_Compression", 2)
    assert by_text["Paksa unicode"].coding == "Unicode_No_Compression"
    assert {m.number for m in sent} == {SENDER}


def test_failing_receive_is_logged_keeps_the_inbox_file_and_skips_run_on_failure(
    tmp_path: Path,
) -> None:
    (tmp_path / "onfailure.py").write_text(ON_FAILURE, encoding="utf-8")
    failure_record = tmp_path / "onfailure.jsonl"
    script = tmp_path / "standin.py"
    script.write_text(STANDIN, encoding="utf-8")
    env = {
        "STANDIN_RECORD": str(tmp_path / "standin.jsonl"),
        "STANDIN_REPLY": "0",
        "STANDIN_EXIT": "1",
        "ONFAILURE_RECORD": str(failure_record),
    }
    with running_gammu(
        tmp_path,
        python_command(script),
        run_on_failure=python_command(tmp_path / "onfailure.py"),
        env=env,
    ) as h:
        h.put_incoming(SENDER, "BATAL 12")
        [run] = h.wait_received()
        time.sleep(2)  # two more polling rounds: SMSD neither retries nor runs RunOnFailure

    assert run.exit_status == 1
    assert run.outcome == "Process failed with exit status 1"
    assert run.output == f"stand-in handled {SENDER}"
    assert "Process failed with exit status 1" in h.logs()
    assert len(records(tmp_path / "standin.jsonl")) == 1  # not retried
    assert not failure_record.exists()
    assert [r.event for r in h.runs()] == ["receive"]
    # The message is kept in the inbox folder (for a replay) but gone from the phone.
    [stored] = h.inbox()
    assert stored.name == run.ids[0]
    spooled = read_spool_message(stored)
    assert spooled is not None and spooled.text == "BATAL 12"
    assert h.phone_inbox() == []


def test_run_on_failure_runs_when_the_phone_cannot_be_opened(tmp_path: Path) -> None:
    # The positive control for the test above: the same RunOnFailure does run, with INIT.
    (tmp_path / "onfailure.py").write_text(ON_FAILURE, encoding="utf-8")
    failure_record = tmp_path / "onfailure.jsonl"
    h = GammuHarness(
        tmp_path,
        "true",
        run_on_failure=python_command(tmp_path / "onfailure.py"),
        env={"ONFAILURE_RECORD": str(failure_record)},
    )
    (h.phone_dir / "sms" / "1").rmdir()
    (h.phone_dir / "sms").rmdir()
    h.phone_dir.rmdir()  # the dummy driver cannot create its log: "init" fails
    with pytest.raises(RuntimeError, match="could not open the dummy phone"):
        h.start()
    assert records(failure_record)[0] == ["INIT"]
    assert h.runs("failure")[0].ids == ["INIT"]
    assert h.processes() == []


def test_inject_works_without_the_daemon_and_is_sent_later(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    path = h.inject(SENDER, "Antrian Anda nomor 7")
    assert path.parent == h.outbox_dir
    assert path.name.startswith("OUTC") and path.name.endswith(f"_{SENDER}_sms0.smsbackup")
    [queued] = h.queued()
    assert (queued.number, queued.text, queued.path) == (SENDER, "Antrian Anda nomor 7", path)
    assert not h.log_path.exists()  # the daemon never ran

    with h:
        [sent] = h.wait_sent()
    assert (sent.number, sent.text) == (SENDER, "Antrian Anda nomor 7")
    assert sent.path == h.sent_dir / path.name
    assert not path.exists()
    assert f"Transmitted {path.name}" in h.logs()


def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    # The stand-in sleeps: stop() must also end a RunOnReceive that SMSD is waiting for.
    h = make_harness(tmp_path, STANDIN_SLEEP="60", STANDIN_REPLY="0")
    h.start()
    pid = h.pid
    assert pid is not None
    h.put_incoming(SENDER, "CEK")
    deadline = time.monotonic() + 20
    while not records(tmp_path / "standin.jsonl"):
        assert time.monotonic() < deadline, h.logs()
        time.sleep(0.05)
    assert len(h.processes()) >= 2  # SMSD and its RunOnReceive child

    h.stop()
    assert h.processes() == []
    assert not Path(f"/proc/{pid}").exists()
    leftovers = [
        p
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and str(h.smsdrc).encode() in _cmdline(p)
    ]
    assert leftovers == []
    h.stop()  # idempotent


def test_restart_keeps_counting_runs(tmp_path: Path) -> None:
    h = make_harness(tmp_path)
    with h:
        h.put_incoming(SENDER, "SATU")
        h.wait_received(1)
    with h:
        h.put_incoming(SENDER, "DUA")
        runs = h.wait_received(2)
        h.wait_sent(2)
    assert [r["env"]["SMS_1_TEXT"] for r in records(tmp_path / "standin.jsonl")] == [
        "SATU",
        "DUA",
    ]
    assert len(runs) == 2


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""
