"""The sms-gateway command: in-process for speed, and as a real process where it matters."""

from __future__ import annotations

import csv
import io
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from sms_gateway import migrate
from sms_gateway.cli import main
from sms_gateway.config import Settings
from sms_gateway.gateway import Gateway
from tests.conftest import AUTH_TOKEN, NIK_SECRET, VALID_NIK, nik, write_config

NOW = "2026-11-27T10:00"
EXE = str(Path(sys.executable).with_name("sms-gateway"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def parse_curl(command: str) -> tuple[str, dict[str, str]]:
    """Return the signature header and the form fields of a printed curl command."""
    words = shlex.split(command)
    signature = words[words.index("-H") + 1].removeprefix("X-Twilio-Signature: ")
    pairs = [words[i + 1] for i, w in enumerate(words) if w == "--data-urlencode"]
    return signature, dict(p.split("=", 1) for p in pairs)


@pytest.fixture
def cfg(config_path: Path) -> str:
    return str(config_path)


def test_sms_books_and_bookings_lists_the_day_as_csv(
    capsys: pytest.CaptureFixture[str], cfg: str
) -> None:
    code, out, _ = run(
        capsys,
        "--config",
        cfg,
        "sms",
        "--from",
        "081234567890",
        "--now",
        NOW,
        "DAFTAR",
        VALID_NIK,
        "8-12-2026",
    )
    assert code == 0
    assert out.startswith("Terdaftar! Antrean PMK-001 Kantor Imigrasi Pamekasan, Sel 08-12-2026")
    run(
        capsys,
        "--config",
        cfg,
        "sms",
        "--from",
        "081234567891",
        "--now",
        NOW,
        f"DAFTAR {nik(2)} 8-12-2026 SIANG",
    )
    run(capsys, "--config", cfg, "sms", "--from", "081234567891", "--now", NOW, "BATAL")

    code, out, _ = run(
        capsys, "--config", cfg, "bookings", "--date", "2026-12-08", "--format", "csv"
    )
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [
        "office",
        "date",
        "session",
        "queue_number",
        "phone",
        "nik_masked",
        "status",
        "code",
        "created_at",
    ]
    first, second = (dict(zip(rows[0], r, strict=True)) for r in rows[1:])
    assert first["office"] == "PMK"
    assert first["date"] == "2026-12-08"
    assert first["session"] == "PAGI"
    assert first["queue_number"] == "PMK-001"
    assert first["phone"] == "+6281234567890"
    assert first["nik_masked"] == "3528********0001"
    assert first["status"] == "active"
    assert len(first["code"]) == 6
    assert first["created_at"] == "2026-11-27T10:00:00+07:00"
    assert (second["queue_number"], second["status"]) == ("PMK-002", "cancelled")
    assert VALID_NIK not in out

    code, out, _ = run(
        capsys,
        "--config",
        cfg,
        "bookings",
        "--date",
        "2026-12-08",
        "--status",
        "cancelled",
        "--format",
        "csv",
    )
    assert [r[3] for r in csv.reader(io.StringIO(out))] == ["queue_number", "PMK-002"]

    code, out, _ = run(capsys, "--config", cfg, "bookings", "--date", "2026-12-08")
    assert "PMK-001" in out and "0812-3456-7890" in out
    assert out.strip().endswith("2 booking(s): 1 active, 1 cancelled")


def test_bookings_of_an_empty_day_say_none(capsys: pytest.CaptureFixture[str], cfg: str) -> None:
    code, out, _ = run(
        capsys, "--config", cfg, "bookings", "--date", "2026-12-09", "--office", "mlg"
    )
    assert code == 0
    assert out.strip() == "Bookings for 09-12-2026 at MLG: none"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bookings", "--date", "2026-13-01"], "is not a date like 2026-12-08"),
        (["bookings", "--date", "2026-12-08", "--office", "SBY"], "is not an office"),
        (["bookings", "--date", "2026-12-08", "--status", "gone"], "Invalid value for '--status'"),
        (["bookings", "--date", "2026-12-08", "--format", "xml"], "Invalid value for '--format'"),
        (["sms", "--from", "abc", "CEK"], "'abc' is not a phone number"),
        (["sms", "--from", "081234567890", "--to", "x", "CEK"], "is not a phone number or short"),
        (["sms", "--from", "081234567890", "--now", "yesterday", "CEK"], "use ISO-8601"),
        (["sms", "CEK"], "Missing option '--from'"),
        (["serve", "--port", "99999"], "Invalid value for '--port'"),
        (["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_bad_arguments_get_one_clear_line_and_change_nothing(
    capsys: pytest.CaptureFixture[str], cfg: str, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "--config", cfg, *argv)
    assert code != 0
    assert out == ""  # no reply, no listing: nothing was handled
    assert "Traceback" not in err
    assert message in err


def test_serve_refuses_a_public_address_without_a_twilio_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    path = write_config(tmp_path, db_url, twilio="")
    code, _, err = run(capsys, "--config", str(path), "serve", "--host", "0.0.0.0")
    assert code == 1
    assert "refusing to listen on 0.0.0.0 without a Twilio auth token or a Kannel secret" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[booking\n", "not valid TOML"),
        (
            '[security]\nnik_secret = "0123456789abcdef"\n[booking]\nmax_day_ahead = 3\n',
            "did you mean max_days_ahead",
        ),
        ('[security]\nnik_secret = "short"\n', "nik_secret must be at least 16"),
        ('[[offices]]\ncode = "PMK"\n', "[security] nik_secret is not set"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(content)
    code, _, err = run(capsys, "--config", str(path), "sms", "--from", "0812345678", "CEK")
    assert code == 1
    assert message in err
    assert str(path) in err
    assert "Traceback" not in err


def test_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--config", str(tmp_path / "nope.toml"), "init-db")
    assert code == 1
    assert "config file not found" in err


def test_config_from_env_and_database_url_override(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, "sqlite:///never-used.db")
    monkeypatch.setenv("SMS_GATEWAY_CONFIG", str(path))
    monkeypatch.setenv("SMS_GATEWAY_DATABASE_URL", db_url)
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "sms", "--from", "081234567890", "--now", NOW, "KANTOR")
    assert code == 0
    assert out.startswith("Kantor: PMK=Kantor Imigrasi Pamekasan")
    assert not (tmp_path / "never-used.db").exists()


def test_unreachable_database_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write_config(tmp_path, "postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    code, _, err = run(capsys, "--config", str(path), "init-db")
    assert code == 1
    assert err.startswith("Error: database postgresql+psycopg://nobody:***@127.0.0.1:1/none")
    assert "secret" not in err


def test_init_db_creates_the_schema_on_an_empty_postgres(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, empty_pg_url: str
) -> None:
    path = write_config(tmp_path, empty_pg_url)
    code, out, _ = run(capsys, "--config", str(path), "init-db")
    assert code == 0
    assert f"is at schema revision {migrate.head_revision()}" in out
    code, out, _ = run(capsys, "--config", str(path), "sms", "--from", "081234567890", "CEK")
    assert out.startswith("Nomor ini tidak punya antrean aktif.")


def test_embedded_default_keeps_its_generated_secret_beside_the_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("SMS_GATEWAY_CONFIG", "SMS_GATEWAY_DATABASE_URL", "SMS_GATEWAY_NIK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    code, out, _ = run(
        capsys, "sms", "--from", "081234567890", "--now", NOW, f"DAFTAR {VALID_NIK} 8-12-2026"
    )
    assert code == 0 and out.startswith("Terdaftar!")
    secret_file = tmp_path / "sms-gateway.db.nik-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text()
    # A restart reuses the secret: the same NIK from another phone is still recognised.
    code, out, _ = run(
        capsys, "sms", "--from", "081234567899", "--now", NOW, f"DAFTAR {VALID_NIK} 9-12-2026"
    )
    assert out.startswith("NIK ini sudah punya antrean aktif")
    assert secret_file.read_text() == secret


def test_a_changed_nik_secret_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    path = write_config(tmp_path, db_url)
    assert run(capsys, "--config", str(path), "init-db")[0] == 0
    path.write_text(path.read_text().replace(NIK_SECRET, "another-secret-0123456789"))
    code, _, err = run(capsys, "--config", str(path), "sms", "--from", "0812345678", "CEK")
    assert code == 1
    assert "the NIK secret is not the one this database was set up with" in err


def test_twilio_curl_prints_a_correctly_signed_request(
    capsys: pytest.CaptureFixture[str], cfg: str
) -> None:
    url = "https://sms.example.go.id/sms/twilio"
    code, out, _ = run(
        capsys, "--config", cfg, "twilio-curl", "--url", url, "--from", "081234567890", "CEK"
    )
    assert code == 0
    signature, form = parse_curl(out)
    assert form["Body"] == "CEK"
    assert form["From"] == "+6281234567890"
    assert RequestValidator(AUTH_TOKEN).validate(url, form, signature)


# -- the real process --------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`sms-gateway serve` as a real process on the embedded default, with a token."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_GATEWAY_")}
    env["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [EXE, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            process.kill()
            process.wait()
            pytest.fail("serve did not come up: " + log.read_text())
        yield base, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_answers_a_signed_post_and_shares_the_database_with_the_cli(
    served: tuple[str, Path],
) -> None:
    base, cwd = served
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMS_GATEWAY_")}
    env["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN
    curl = subprocess.run(
        [EXE, "twilio-curl", "--url", base + "/sms/twilio", "--from", "081234567890", "BANTUAN"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    signature, form = parse_curl(curl)
    request = urllib.request.Request(
        base + "/sms/twilio",
        data=urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": signature},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
    assert "<Message>Antrean paspor lewat SMS." in body

    forged = urllib.request.Request(
        base + "/sms/twilio",
        data=urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": "AAAA"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 403
    refused.value.close()

    # The CLI on the same working directory sees the same embedded database.
    out = subprocess.run(
        [EXE, "sms", "--from", "081234567890", "CEK"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("Nomor ini tidak punya antrean aktif.")
    assert (cwd / "sms-gateway.db").exists()


def test_the_installed_command_never_prints_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[offices\n")
    result = subprocess.run(
        [EXE, "--config", str(bad), "serve"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 1
    assert "not valid TOML" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_serve_banner_says_how_to_try_it_and_where_the_pages_are(
    capsys: pytest.CaptureFixture[str], gateway: Gateway, settings: Settings
) -> None:
    from sms_gateway.cli.running import _print_banner

    _print_banner(settings, gateway, "127.0.0.1", 5000)
    err = capsys.readouterr().err
    assert "twilio-curl --url http://127.0.0.1:5000/sms/twilio" in err  # a token is set
    assert "/sms/kannel?from=081234567890" in err
    assert "Public pages: http://127.0.0.1:5000/transparansi" in err
    assert "http://127.0.0.1:5000/layar/PMK" in err
