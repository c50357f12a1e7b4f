"""Skipping a test whose tool is missing, or failing it where the tool must be there (CI)."""

from __future__ import annotations

import os

import pytest


def skip_or_fail(reason: str | None, require_env: str) -> None:
    """Skip the calling test for ``reason``; fail it instead when ``require_env`` is 1.

    ``reason`` is None when the tool is there: then nothing happens.
    """
    if reason is None:
        return
    if os.environ.get(require_env) == "1":
        pytest.fail(f"{reason} ({require_env}=1)")
    pytest.skip(reason)
