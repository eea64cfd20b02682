"""Where the harness keeps things by default (each overridable by env or option)."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The source checkout holding this package (the folder with pyproject.toml)."""
    return Path(__file__).resolve().parents[1]


def default_cache_dir() -> Path:
    """Built models (trained, converted): HARNESS_CACHE_DIR or models/cache/."""
    env = os.environ.get("HARNESS_CACHE_DIR")
    return Path(env) if env else project_root() / "models" / "cache"
