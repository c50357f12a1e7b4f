"""`sms-gateway audit redact`: repair append-only tables that hold NIKs in clear.

The SQLite database in tests/fixtures/pre_redaction was written by the version
before the fix (see its README); PostgreSQL gets the same damage written with
plain SQL, as that version's INSERTs wrote it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from sms_gateway.cli import main
from sms_gateway.config import load_settings
from sms_gateway.gateway import Gateway
from sms_gateway.services.chain import note
from sms_gateway.services.chain_records import canonical
from tests.conftest import NIK_SECRET, Clock, nik, write_config

FIXTURE = Path(__file__).parent / "fixtures" / "pre_redaction" / "gateway.sqlite3"
OLD_ANCHOR = "12:986d7d89a4486b93bab83575609a9356f77f6116439c52ca022cec4a2988a3c7"
# The NIKs the old version's day sent (tests/fixtures/pre_redaction/make.py).
SENT_NIKS = [nik(n) for n in (1, 2, 3, 4, 5, 7, 8, 9)]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    copy = tmp_path / "gateway.sqlite3"
    shutil.copy(FIXTURE, copy)
    return write_config(tmp_path, f"sqlite:///{copy}")


def clear_niks_in(database: Path) -> list[str]:
    """Every (table, NIK) where a sent NIK is held in clear, digits only."""
    found = []
    with sqlite3.connect(database) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                cells = "".join(c for c in " ".join(map(str, row)) if c.isdigit() or c == " ")
                digits = cells.replace(" ", "")
                found += [f"{table}:{n}" for n in SENT_NIKS if n in digits]
    return found


def test_the_fixture_holds_the_damage(old_db: Path) -> None:
    # Guard the guard: the old version did keep NIKs in clear, in the chain too.
    leaks = clear_niks_in(old_db.parent / "gateway.sqlite3")
    assert any(leak.startswith("audit_chain:") for leak in leaks), leaks
    assert any(leak.startswith("audit_log:") for leak in leaks), leaks


def _head(config: Path) -> tuple[int, str]:
    gw = Gateway(load_settings(config, env={}), clock=Clock())
    try:
        with gw.sessions() as session:
            head = gw.chain.head(session)
            return head.seq, head.hash
    finally:
        gw.close()


def test_redact_refuses_without_anchors_or_a_waiver(
    capsys: pytest.CaptureFixture[str], old_db: Path
) -> None:
    before = _head(old_db)
    code, _out, err = run(capsys, "--config", str(old_db), "audit", "redact")
    assert code != 0 and "--anchor" in err and "--without-anchors" in err
    assert _head(old_db) == before
    assert clear_niks_in(old_db.parent / "gateway.sqlite3")  # nothing was touched


def test_redact_refuses_an_anchor_the_chain_does_not_match(
    capsys: pytest.CaptureFixture[str], old_db: Path
) -> None:
    before = _head(old_db)
    wrong = "12:" + "ab" * 16
    code, _out, err = run(capsys, "--config", str(old_db), "audit", "redact", "--anchor", wrong)
    assert code != 0 and "does not verify" in err, err
    assert _head(old_db) == before


def test_redact_masks_the_chain_and_keeps_it_verifiable(
    capsys: pytest.CaptureFixture[str], old_db: Path
) -> None:
    code, out, err = run(capsys, "--config", str(old_db), "audit", "redact", "--anchor", OLD_ANCHOR)
    assert code == 0, err
    assert "rewrote" in out and "publish this one" in out
    assert clear_niks_in(old_db.parent / "gateway.sqlite3") == []

    # The relinked chain verifies, against the live tables too, with the old
    # anchor (vouched for by the statement) and with the new head.
    new_seq, new_hash = _head(old_db)
    assert new_seq == 13
    code, out, _ = run(
        capsys, "--config", str(old_db), "audit", "verify",
        "--anchor", OLD_ANCHOR, "--anchor", f"{new_seq}:{new_hash}",
    )  # fmt: skip
    assert code == 0 and "audit chain OK" in out, out

    with sqlite3.connect(old_db.parent / "gateway.sqlite3") as conn:
        kind, data = conn.execute(
            "SELECT kind, data FROM audit_chain WHERE seq = ?", (new_seq,)
        ).fetchone()
        commands = [r[0] for r in conn.execute("SELECT command FROM audit_log ORDER BY id")]
        # The append-only triggers are back.
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_chain")
    statement = json.loads(data)
    assert kind == "redaction"
    assert statement["old_head"]["hash"] == OLD_ANCHOR.split(":")[1]
    assert statement["anchors_checked"] == [[12, OLD_ANCHOR.split(":")[1]]]
    assert statement["anchors_waived"] is False
    key = hmac.new(NIK_SECRET.encode(), b"audit-chain redaction", hashlib.sha256).digest()
    body = canonical({k: v for k, v in statement.items() if k != "signature"})
    assert statement["signature"] == hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    assert any(re.fullmatch(r"HADIR \*{4} \w{6} 3528\*{8}0001", c) for c in commands), commands


def test_redact_with_a_waiver_says_so_in_the_statement(
    capsys: pytest.CaptureFixture[str], old_db: Path
) -> None:
    code, _out, err = run(capsys, "--config", str(old_db), "audit", "redact", "--without-anchors")
    assert code == 0, err
    with sqlite3.connect(old_db.parent / "gateway.sqlite3") as conn:
        (data,) = conn.execute("SELECT data FROM audit_chain WHERE kind = 'redaction'").fetchone()
    assert json.loads(data)["anchors_waived"] is True
    # A second run finds nothing left to rewrite and still verifies.
    code, out, err = run(capsys, "--config", str(old_db), "audit", "redact", "--without-anchors")
    assert code == 0 and "rewrote 0 chain record(s)" in out, err
    code, out, _ = run(capsys, "--config", str(old_db), "audit", "verify")
    assert code == 0, out


def test_redact_on_both_databases(
    capsys: pytest.CaptureFixture[str], config_path: Path, clock: Clock
) -> None:
    gw = Gateway(load_settings(config_path, env={}), clock=clock)
    try:
        # What the old version wrote: a staff command with a NIK in clear, recorded
        # by the chain. (Plain SQL: the column type would mask it.)
        with gw.sessions.begin() as session:
            session.execute(
                text(
                    "INSERT INTO audit_log (at, phone, staff_name, office_code, command, "
                    "outcome) VALUES (:at, '+6281100000001', 'Staf', 'PMK', :c, 'ok')"
                ),
                {"at": clock().replace(tzinfo=None), "c": f"HADIR **** PMK-001 {nik(1)}"},
            )
            note(session, "staff_command", session.scalars(text("SELECT id FROM audit_log")))
        with gw.sessions() as session:
            head = gw.chain.head(session)
            assert any(nik(1) in d for d in session.scalars(text("SELECT data FROM audit_chain")))
    finally:
        gw.close()
    anchor = f"{head.seq}:{head.hash}"
    code, out, err = run(
        capsys, "--config", str(config_path), "audit", "redact", "--anchor", anchor
    )
    assert code == 0, err
    code, out, _ = run(capsys, "--config", str(config_path), "audit", "verify", "--anchor", anchor)
    assert code == 0 and "audit chain OK" in out, out
    gw = Gateway(load_settings(config_path, env={}), clock=clock)
    try:
        with gw.sessions() as session:
            held = [
                *session.scalars(text("SELECT data FROM audit_chain")),
                *session.scalars(text("SELECT command FROM audit_log")),
            ]
        assert not any(nik(1) in h for h in held)
        assert any("3528********0001" in h for h in held)
        # Append-only again.
        with pytest.raises(Exception, match="append-only"), gw.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_chain"))
    finally:
        gw.close()
