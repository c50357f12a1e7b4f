"""gammu-receive: reading SMSD's environment, handling once, queueing the reply, retrying."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sms_gateway.channels.gammu.smsd import NotFromSmsd, message_from_environment
from sms_gateway.cli import main
from sms_gateway.cli.messaging import EXIT_TEMPFAIL
from tests.conftest import NIK_SECRET, count, write_config

INBOX_FILE = "IN20261127_100000_00_+6281234567890_00.txt"


@pytest.mark.parametrize(
    ("env", "text"),
    [
        (
            {
                "SMS_MESSAGES": "1",
                "DECODED_PARTS": "0",
                "SMS_1_NUMBER": "+6281234567890",
                "SMS_1_TEXT": "CEK",
            },
            "CEK",
        ),
        (
            {
                "SMS_MESSAGES": "2",
                "SMS_1_NUMBER": "+6281234567890",
                "SMS_1_TEXT": "DAFTAR 3528",
                "SMS_2_NUMBER": "+6281234567890",
                "SMS_2_TEXT": "011505900001 8/12",
            },
            "DAFTAR 3528011505900001 8/12",
        ),
        (
            {
                "SMS_MESSAGES": "2",
                "DECODED_PARTS": "1",
                "SMS_1_NUMBER": "+6281234567890",
                "SMS_1_TEXT": "part one",
                "SMS_2_TEXT": "part two",
                "DECODED_1_TEXT": "the whole reassembled text",
            },
            "the whole reassembled text",
        ),
        (
            {
                "SMS_MESSAGES": "1",
                "SMS_1_NUMBER": "081234567890",
                "SMS_1_TEXT": "Cek \u00f1 \u00e7",
            },
            "Cek \u00f1 \u00e7",
        ),
    ],
    ids=["single", "multipart-raw", "multipart-decoded", "national-number-unicode"],
)
def test_message_from_environment(env: dict[str, str], text: str) -> None:
    message = message_from_environment(env, ["/var/spool/gammu/inbox/" + INBOX_FILE])
    assert message.text == text
    assert message.sender == "+6281234567890"
    assert message.transport == "gammu"
    assert message.external_id == INBOX_FILE
    assert message.reply_inline is False


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({}, "run this from Gammu SMSD"),
        ({"SMS_MESSAGES": "1"}, "run this from Gammu SMSD"),
        ({"SMS_MESSAGES": "x", "SMS_1_NUMBER": "+6281234567890"}, "not a number"),
        ({"SMS_MESSAGES": "999", "SMS_1_NUMBER": "+6281234567890"}, "out of range"),
        ({"SMS_MESSAGES": "1", "SMS_1_NUMBER": "Telkomsel"}, "is not a phone number"),
    ],
)
def test_an_environment_that_is_not_from_smsd_is_refused(env: dict[str, str], words: str) -> None:
    with pytest.raises(NotFromSmsd, match=words):
        message_from_environment(env, [])


def test_without_ids_there_is_no_dedupe_key() -> None:
    env = {"SMS_MESSAGES": "1", "SMS_1_NUMBER": "+6281234567890", "SMS_1_TEXT": "CEK"}
    assert message_from_environment(env, []).external_id is None


# -- the command, with a stand-in for gammu-smsd-inject -----------------------------------


@pytest.fixture
def inject_log(tmp_path: Path) -> Path:
    return tmp_path / "injected"


def _config(tmp_path: Path, db_url: str, inject_body: str) -> str:
    script = tmp_path / "inject"
    script.write_text("#!/bin/sh\n" + inject_body)
    script.chmod(0o755)
    extra = f"""
        [gammu]
        inject = "{script}"
        smsdrc = "{tmp_path}/smsdrc"
        receive_timeout = 1
    """
    return str(write_config(tmp_path, db_url, extra=extra))


WORKING_INJECT = (
    'printf "%s|" "$@" >> {log}; echo >> {log}\n'
    'echo "Written message with ID /spool/outbox/OUTC1.smsbackup"\n'
)


def _receive(
    monkeypatch: pytest.MonkeyPatch, config: str, text: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    for key in [k for k in os.environ if k.startswith(("SMS_", "DECODED_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SMS_MESSAGES", "1")
    monkeypatch.setenv("DECODED_PARTS", "0")
    monkeypatch.setenv("SMS_1_NUMBER", "+6281234567890")
    monkeypatch.setenv("SMS_1_TEXT", text)
    code = main(["--config", config, "gammu-receive", "/spool/inbox/" + INBOX_FILE])
    out, err = capsys.readouterr()
    return code, out, err


def test_gammu_receive_books_and_queues_the_reply_once(
    tmp_path: Path,
    db_url: str,
    inject_log: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from datetime import date, timedelta

    # The command runs on the real clock: book a weekday two weeks ahead.
    day = date.today() + timedelta(days=14)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    config = _config(tmp_path, db_url, WORKING_INJECT.format(log=inject_log))
    code, out, _ = _receive(monkeypatch, config, f"DAFTAR 3528011505900001 {day:%d-%m-%Y}", capsys)
    if out.startswith("PMK tutup"):  # a holiday two weeks ahead: let the reply name the day
        pytest.skip(f"{day} is a holiday: {out}")
    assert code == 0
    assert out.startswith("Terdaftar! Antrean PMK-001")
    (call,) = inject_log.read_text().splitlines()
    prefix = f"-c|{tmp_path}/smsdrc|TEXT|+6281234567890|-autolen|{len(out.strip())}|-textutf8|"
    assert call == prefix + out.strip() + "|"

    # SMSD replaying the same stored message: same reply, no second SMS, no second booking.
    code, again, _ = _receive(
        monkeypatch, config, f"DAFTAR 3528011505900001 {day:%d-%m-%Y}", capsys
    )
    assert (code, again) == (0, out)
    assert len(inject_log.read_text().splitlines()) == 1


def test_a_reply_that_could_not_be_queued_is_sent_on_replay(
    tmp_path: Path,
    db_url: str,
    inject_log: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(tmp_path, db_url, "echo 'outbox not writable' >&2\nexit 3\n")
    code, out, err = _receive(monkeypatch, config, "KANTOR", capsys)
    assert code == EXIT_TEMPFAIL
    assert "the reply could not be queued (gammu-smsd-inject failed: outbox not writable)" in err
    # The operator fixes the outbox and SMSD's RunOnFailure (or the operator) replays it.
    config = _config(tmp_path, db_url, WORKING_INJECT.format(log=inject_log))
    code, out, _ = _receive(monkeypatch, config, "KANTOR", capsys)
    assert code == 0
    assert out.startswith("Kantor: PMK=")
    assert len(inject_log.read_text().splitlines()) == 1


def test_gammu_receive_fails_with_tempfail_when_the_database_stays_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/none", "exit 0\n")
    code, out, err = _receive(monkeypatch, config, "CEK", capsys)
    assert code == EXIT_TEMPFAIL
    assert out == ""
    assert "database unavailable for 1s" in err
    assert "NOT handled: replay it" in err


def test_gammu_receive_outside_smsd_is_a_clear_error(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith(("SMS_", "DECODED_"))]:
        monkeypatch.delenv(key)
    config = _config(tmp_path, db_url, "exit 0\n")
    assert main(["--config", config, "gammu-receive"]) == 1
    assert "run this from Gammu SMSD's RunOnReceive" in capsys.readouterr().err


def test_messages_are_logged_with_the_reply_marked_sent(
    tmp_path: Path,
    db_url: str,
    inject_log: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = _config(tmp_path, db_url, WORKING_INJECT.format(log=inject_log))
    _receive(monkeypatch, config, "CEK", capsys)
    from sms_gateway.config import load_settings
    from sms_gateway.gateway import Gateway

    gateway = Gateway(load_settings(config, env={"SMS_GATEWAY_NIK_SECRET": NIK_SECRET}))
    try:
        assert (
            count(
                gateway,
                "SELECT count(*) FROM messages WHERE transport = 'gammu' AND "
                "direction = 'out' AND status = 'sent' AND external_id = "
                "'OUTC1.smsbackup'",
            )
            == 1
        )
    finally:
        gateway.close()


# -- replaying what SMSD kept in its inbox folder ----------------------------------------

FIXTURES = Path(__file__).parent / "fixtures" / "gammu"


def test_inbox_files_are_read_including_multipart_and_unicode() -> None:
    from sms_gateway.channels.gammu.smsd import message_from_inbox_file

    single = message_from_inbox_file(FIXTURES / "IN20261127_195928_00_+6281234567890_00.txt")
    assert single.sender == "+6281234567890"
    assert single.text == "DAFTAR 3528011505900001 8/12 \u00e7"
    assert single.external_id == "IN20261127_195928_00_+6281234567890_00.txt"
    long = message_from_inbox_file(FIXTURES / "IN20261127_195928_00_+6281234567891_00.txt")
    assert long.text == "x" * 200 + " panjang"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("just text\n", "not a Gammu inbox file"),
        ('[SMSBackup000]\nNumber = "+6281234567890"\nText00 = 00ZZ\n', "damaged text"),
    ],
)
def test_bad_inbox_files_are_refused(tmp_path: Path, content: str, words: str) -> None:
    from sms_gateway.channels.gammu.smsd import NotFromSmsd, message_from_inbox_file

    path = tmp_path / "IN_bad.txt"
    path.write_text(content)
    with pytest.raises(NotFromSmsd, match=words):
        message_from_inbox_file(path)


def test_replay_handles_each_file_once(
    tmp_path: Path, db_url: str, inject_log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url, WORKING_INJECT.format(log=inject_log))
    files = sorted(str(p) for p in FIXTURES.glob("IN*.txt"))
    junk = tmp_path / "IN_junk.txt"
    junk.write_text("nothing")
    assert main(["--config", config, "gammu-receive", "--replay", *files, str(junk)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(files[0] + ": Tanggal ") or lines[0].startswith(files[0] + ": ")
    assert f"{junk}: skipped" in err
    assert len(inject_log.read_text().splitlines()) == 2
    # Replaying again answers the same and queues nothing new.
    assert main(["--config", config, "gammu-receive", "--replay", *files]) == 0
    assert capsys.readouterr().out.splitlines() == lines
    assert len(inject_log.read_text().splitlines()) == 2


def test_a_ussd_answer_is_ignored(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, db_url, "exit 1\n")
    for key in [k for k in os.environ if k.startswith(("SMS_", "DECODED_"))]:
        monkeypatch.delenv(key)
    for key, value in {
        "SMS_MESSAGES": "1",
        "SMS_1_NUMBER": "",
        "SMS_1_CLASS": "127",
        "SMS_1_TEXT": "Sisa pulsa Rp 5.000",
    }.items():
        monkeypatch.setenv(key, value)
    assert main(["--config", config, "gammu-receive", "IN1.txt"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "ignored: not an SMS from a phone" in err
