"""Can TFLM load a model, and with how small an arena? Answered in a helper program.

TFLM can crash the process when an arena is too small (a model with resource
variables segfaults at its recorded total) or a flatbuffer is malformed, so
each load is tried in a forked child, where a crash only fails that probe.
The forks happen in a helper program (this module run with ``python -m``),
never in the caller: forking a process that has other threads (TensorFlow's,
after training) can crash or deadlock the child, which would read as "TFLM
cannot load it".

The helper is a program of its own, started through ``procs.spawn`` (so it
never outlives the harness) rather than a multiprocessing worker: a worker
started by ``spawn`` or ``forkserver`` imports the caller's main script again,
and a plain script that calls the harness at its top level (no
``if __name__ == "__main__":``) would then run again inside the worker.

Arena usage: TFLM's RecordingMicroAllocator prints what the allocated model
occupies (``print_allocations``, from C++ on stdout), a lower bound only:
memory planning needs temporary space on top of it (~650 B more for the MLPerf
AD model). So the helper reads the recorded total by pointing file descriptors
1 and 2 at a temporary file, then probes arenas upward from it in 16-byte steps
(TFLM's alignment), galloping then bisecting, until one loads.

Wire between caller and helper: a request is ``<QQ`` (arena bytes, model bytes)
and the model; the answer one JSON line ``{"arena_used": int, "error": str}``.
The helper ends when its stdin closes.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from harness import procs
from harness.errors import ModelError
from harness.native_output import CapturedNativeOutput

log = logging.getLogger(__name__)

ARENA_ALIGNMENT = 16  # TFLM's MicroArenaBufferAlignment()
_REQUEST = struct.Struct("<QQ")
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


@dataclass(frozen=True)
class Probe:
    arena_used: int = 0
    error: str = ""  # why TFLM cannot load the model ("" when it can)


# --- the helper's side ---------------------------------------------------------------

def _loads_in_child(load: Callable[[], Any]) -> bool:
    """Whether ``load`` succeeds, tried in a forked child so that a crash cannot take us down."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: no Python cleanup, just the verdict
        procs.die_with_parent(parent)  # a probe never outlives the helper
        faulthandler.disable()  # a crash here is an answer, not a report for the console
        code = 1
        try:
            load()
            code = 0
        except BaseException as exc:  # say why on the captured stderr, then exit
            os.write(2, f"{type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        log.debug("TFLM load crashed with signal %d", -code)
    return code == 0


def smallest_arena(loads_with: Callable[[int], bool], lower: int, works: int) -> int:
    """Smallest arena, in alignment steps from ``lower``, that loads; ``works`` is known to."""
    if loads_with(lower):
        return lower
    step = ARENA_ALIGNMENT
    while lower + step < works:  # gallop: the gap is usually a few hundred bytes
        if loads_with(lower + step):
            works = lower + step
            break
        lower, step = lower + step, step * 2
    while works - lower > ARENA_ALIGNMENT:  # bisect, keeping sizes on the alignment grid
        mid = lower + (works - lower) // (2 * ARENA_ALIGNMENT) * ARENA_ALIGNMENT
        lower, works = (lower, mid) if loads_with(mid) else (mid, works)
    return works


def probe(data: bytes, arena: int) -> Probe:
    """In the helper: can TFLM load ``data``, and with how small an arena?"""
    from tflite_micro.python.tflite_micro import runtime

    def loads(size: int) -> Any:
        return runtime.Interpreter.from_bytes(data, arena_size=size)

    def loads_with(size: int) -> bool:
        return _loads_in_child(lambda: loads(size))

    with CapturedNativeOutput() as out:
        if not loads_with(arena):
            reason = " | ".join(filter(None, out.text().splitlines())) or "the runtime crashed"
            return Probe(error=f"TFLM cannot load it (arena {arena} bytes): {reason}")
        loads(arena).print_allocations()
        match = _ARENA_TOTAL.search(out.text())
        if match is None:
            return Probe(error="TFLM printed no 'Arena allocation total' line (did the "
                               f"tflite-micro output format change?): {out.text()[:200]!r}")
        return Probe(arena_used=smallest_arena(loads_with, int(match.group(1)), arena))


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    data = stream.read(n)
    return data if len(data) == n else None


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer probe requests until ``requests`` ends."""
    while (head := _read_exactly(requests, _REQUEST.size)) is not None:
        arena, size = _REQUEST.unpack(head)
        data = _read_exactly(requests, size)
        if data is None:
            return
        answers.write(json.dumps(asdict(probe(data, arena))).encode() + b"\n")
        answers.flush()


def main() -> None:
    # Answers go out on a private copy of stdout; fd 1 itself joins stderr, so that
    # nothing TFLM prints between probes can corrupt them.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    serve(sys.stdin.buffer, answers)


# --- the caller's side ---------------------------------------------------------------

class ProbeHelper:
    """The running helper program; started on first use, again after it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: procs.Supervised | None = None

    def run(self, data: bytes, arena: int) -> Probe:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None  # both are pipes
            try:
                proc.stdin.write(_REQUEST.pack(arena, len(data)) + data)
                proc.stdin.flush()
                line = proc.stdout.readline()
            except BrokenPipeError:
                line = b""
            if not line:
                procs.stop(proc)
                self._proc = None
                raise ModelError(f"the TFLM probe helper ended (exit status {proc.returncode}) "
                                 "without an answer; its error, if any, is above")
            return Probe(**json.loads(line))

    @staticmethod
    def _start() -> procs.Supervised:
        # Started from the folder holding the package, so ``-m`` finds this very harness
        # however the caller imported it (installed, or a checkout on sys.path).
        package_parent = Path(__file__).resolve().parents[2]
        return procs.spawn([sys.executable, "-m", "harness.models.tflm_probe"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=package_parent)


if __name__ == "__main__":
    main()
