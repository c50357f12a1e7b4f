"""The access logs of `serve` and of gunicorn never hold a NIK, a PIN or Kannel's key.

Kannel's GET puts the shared key and the whole SMS in the query string; both
servers are started for real and sent such a request.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import nik, write_config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "kannel-secret-0123456789"
PIN = "739146"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _requests(port: int) -> None:
    for text in (f"DAFTAR {nik(11)} 8/12", f"HADIR {PIN} PMK-001 {nik(12)}"):
        query = urlencode(
            {"key": SECRET, "from": "6281234567890", "to": "+6282140000001", "text": text}
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sms/kannel?{query}", timeout=10):
            pass


def _run(argv: list[str], env: dict[str, str], port: int, log: Path) -> str:
    with log.open("wb") as out:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("server did not start:\n" + log.read_text()) from None
                time.sleep(0.2)
        _requests(port)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return log.read_text()


def _assert_clean(output: str) -> None:
    requests = [line for line in output.splitlines() if '"GET /sms/kannel' in line]
    assert len(requests) == 2, output  # each request was logged ...
    assert not any("text=" in line or "key=" in line for line in requests), requests
    for secret in (nik(11), nik(12), PIN, SECRET):  # ... and nothing anywhere holds these
        assert secret not in output, (secret, output)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(
        tmp_path,
        f"sqlite:///{tmp_path}/gateway.sqlite3",
        twilio="",
        extra=f'[kannel]\nsecret = "{SECRET}"\n',
    )


def test_serve_logs_paths_without_query_strings(config: Path, tmp_path: Path) -> None:
    port = free_port()
    output = _run(
        [str(BIN / "sms-gateway"), "--config", str(config), "serve", "--port", str(port)],
        dict(os.environ),
        port,
        tmp_path / "serve.log",
    )
    _assert_clean(output)


def test_gunicorn_access_log_has_no_query_strings(config: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SMS_GATEWAY_CONFIG": str(config),
        "SMS_GATEWAY_BIND": f"127.0.0.1:{port}",
        "SMS_GATEWAY_WORKERS": "1",
        "SMS_GATEWAY_ACCESSLOG": "-",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    argv = [
        str(BIN / "gunicorn"),
        "-c",
        str(ROOT / "deploy/gunicorn.conf.py"),
        "sms_gateway.wsgi:app",
    ]
    _assert_clean(_run(argv, env, port, tmp_path / "gunicorn.log"))
