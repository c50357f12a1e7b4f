"""Bring a database to the current schema with the Alembic scripts in ``migrations/``."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

# Alembic keeps its running environment in module globals: one migration at a time
# per process. Across processes, env.py takes a database lock.
_LOCK = threading.Lock()


def _script_location() -> str:
    spec = importlib.util.find_spec("migrations")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the migrations package is not installed with sms_gateway")
    return str(Path(next(iter(spec.submodule_search_locations))))


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", _script_location())
    return config


def head_revision() -> str | None:
    """Return the newest migration's revision id."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> bool:
    """Upgrade the database to the newest schema; return True if anything ran."""
    if current_revision(engine) == head_revision():
        return False
    config = _config()
    with _LOCK, engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return True
