"""A minimal QMP client: QEMU's machine protocol, JSON lines over a Unix socket.

The QEMU board's reset and hang (``system_reset``, ``stop``, ``cont``) go through
it. Each ``execute`` is one connection: greeting, ``qmp_capabilities``, the
command, its return; asynchronous events in between are skipped.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from harness.errors import BoardError

TIMEOUT_S = 5.0


def execute(path: Path, command: str, timeout: float = TIMEOUT_S) -> Any:
    """Run ``command`` on the QMP socket at ``path``; its ``return`` value."""
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            reader = sock.makefile("rb")
            _next_reply(reader, path, "greeting", deadline, key="QMP")
            for cmd in ("qmp_capabilities", command):
                sock.sendall(json.dumps({"execute": cmd}).encode() + b"\n")
                reply = _next_reply(reader, path, cmd, deadline)
                if "error" in reply:
                    raise BoardError(f"QEMU monitor {path}: {cmd} failed: "
                                     f"{reply['error'].get('desc', reply['error'])}")
            return reply["return"]
    except (OSError, ValueError) as exc:
        raise BoardError(f"QEMU monitor {path}: {command}: {exc}") from exc


def _next_reply(reader: Any, path: Path, what: str, deadline: float,
                key: str = "return") -> dict[str, Any]:
    while time.monotonic() < deadline:
        line = reader.readline()
        if not line:
            raise BoardError(f"QEMU monitor {path} closed while waiting for the {what} reply")
        message = json.loads(line)
        if key in message or "error" in message:
            return dict(message)
        # anything else is an event (RESET, STOP, RESUME …): not a reply
    raise BoardError(f"QEMU monitor {path}: no {what} reply within {TIMEOUT_S:.0f} s")
