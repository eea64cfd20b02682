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


def default_state_dir() -> Path:
    """What this user's harness processes on this host share between runs (which labgrid
    places a run holds): HARNESS_STATE_DIR, else $XDG_STATE_HOME/tinyml-harness, else
    ~/.local/state/tinyml-harness. Not a temporary folder: it must outlive a reboot."""
    env = os.environ.get("HARNESS_STATE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tinyml-harness"
