"""Run identity: id, time, harness version, git commit."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

from harness import __version__


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id(bench_name: str) -> str:
    return f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{bench_name}"


def git_commit(cwd: Path) -> str:
    """The checkout's commit (with '-dirty' if modified), or '' outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return sha + ("-dirty" if dirty else "")


def harness_version() -> str:
    return __version__
