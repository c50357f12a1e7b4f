"""Find the secret that keys NIK hashes, and make sure it never silently changes.

If the secret changed, every stored NIK hash would stop matching and the
one-booking-per-NIK rule would quietly stop working, so the database keeps a
fingerprint of the secret it was set up with and the gateway refuses to start
with a different one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from sqlalchemy.orm import Session

from sms_gateway.config import ENV_NIK_SECRET, ConfigError, Settings
from sms_gateway.db import is_sqlite, sqlite_path
from sms_gateway.models import GatewayMeta

FINGERPRINT_KEY = "nik_secret_fingerprint"
SECRET_SUFFIX = ".nik-secret"


def secret_file_for(database: Path) -> Path:
    """Return where the embedded default keeps its generated secret: beside the database."""
    return database.with_name(database.name + SECRET_SUFFIX)


def resolve_nik_secret(settings: Settings) -> bytes:
    """Return the NIK secret: configured, or (embedded default only) generated and kept."""
    if settings.nik_secret:
        return settings.nik_secret.encode("utf-8")
    url = settings.database.url
    if not is_sqlite(url):
        raise ConfigError(
            f"no NIK secret: set env {ENV_NIK_SECRET} (or use a config file with "
            "[security] nik_secret) when the database is not the embedded SQLite file"
        )
    database = sqlite_path(url)
    if database is None:
        return secrets.token_hex(32).encode("ascii")  # in-memory: lives as long as the data
    file = secret_file_for(database)
    try:
        # O_EXCL: when two processes start at once, exactly one creates the file.
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the NIK secret file {file}: {exc}") from None
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    try:
        value = file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the NIK secret file {file}: {exc}") from None
    if len(value) < 32:
        raise ConfigError(
            f"the NIK secret file {file} is damaged (too short); restore it "
            "from backup: without it no stored NIK can be matched"
        )
    return value.encode("ascii")


def fingerprint(secret: bytes) -> str:
    """Return a value that identifies the secret without revealing it."""
    return hmac.new(secret, b"sms-gateway nik secret fingerprint", hashlib.sha256).hexdigest()


def check_fingerprint(session: Session, secret: bytes) -> None:
    """Record the secret's fingerprint on first use; refuse a different secret later."""
    stored = session.get(GatewayMeta, FINGERPRINT_KEY)
    mine = fingerprint(secret)
    if stored is None:
        session.add(GatewayMeta(key=FINGERPRINT_KEY, value=mine))
        return
    if not hmac.compare_digest(stored.value, mine):
        raise ConfigError(
            "the NIK secret is not the one this database was set up with; every stored NIK "
            "hash would stop matching. Restore the original secret (config [security] "
            f"nik_secret, env {ENV_NIK_SECRET}, or the .nik-secret file beside the database)"
        )
