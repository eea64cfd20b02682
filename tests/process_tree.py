"""Finds the processes a test started, wherever they were reparented: by an environment tag.

Every process the harness starts inherits its environment, so a unique variable set
for the process under test marks its whole tree, orphans included.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

TAG_VAR = "HARNESS_TEST_PROCESS_TAG"


def new_tag() -> dict[str, str]:
    """An environment (this one plus a fresh tag) for the process under test."""
    return {**os.environ, TAG_VAR: uuid.uuid4().hex}


def tagged(env: dict[str, str]) -> dict[int, str]:
    """Live processes (zombies excluded) carrying ``env``'s tag: pid -> command line."""
    mark = f"{TAG_VAR}={env[TAG_VAR]}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_bytes()
            if stat[stat.rindex(b")") + 2:].split()[0] == b"Z":
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ") \
                .decode(errors="replace").strip()
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return found


def wait_until_gone(env: dict[str, str], timeout: float) -> dict[int, str]:
    """Wait up to ``timeout`` for every tagged process to end; what is left."""
    deadline = time.monotonic() + timeout
    while (left := tagged(env)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
