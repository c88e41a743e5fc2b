"""Where the shared sample data lives, and how tests ask for it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("CITYTWIN_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))


def shared_data(relative: str) -> Path:
    """A file of the shared sample data; skips when missing, except under CI=true where it fails."""
    path = SHARED / "data" / relative
    if not path.exists():
        message = f"sample data {relative} not found under {SHARED / 'data'}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
