"""The TFLM host runtime (Python package ``tflite-micro``) behind one small class.

It gives the outputs a board running TFLM must give (the simulated board's
outputs and the host reference of accuracy runs) and the arena the model needs.

Arena usage: the figure that matters is the smallest arena with which TFLM can
allocate the model. TFLM's RecordingMicroAllocator prints what the allocated
model occupies (``print_allocations``, from C++ on stderr), but that is a lower
bound only: memory planning needs temporary space on top of it (~650 B more
for the MLPerf AD model). So we read the recorded total by pointing file
descriptors 1 and 2 at a temporary file, then probe arenas upward from it in
16-byte steps (TFLM's alignment), galloping then bisecting, until one loads.

Each probe runs in a forked child: TFLM can crash the process when an arena is
too small (a model with resource variables segfaults at its recorded total)
or a flatbuffer is malformed. A crash then only fails that probe. The forks
happen in a helper process started from a clean forkserver, never in the
caller: forking a process that has other threads (TensorFlow's, after training)
can crash or deadlock the child, which would read as "TFLM cannot load it".
Only after the helper has found the model loadable do we load it in-process.
The capture also keeps TFLM's messages off the console and puts them into our
errors. The figure is the host's: on a 32-bit MCU TFLM's per-tensor structs are
smaller, so a board needs slightly less (the activation plan, the bulk, is the
same).

State: the interpreter keeps variables (resource variables, LSTM state) between
invokes. ``run`` resets it first (< 1 µs) so each output depends on its input
only, as a freshly started board's would.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ModelError
from harness.native_output import CapturedNativeOutput
from harness.procs import die_with_parent, exit_with
from harness.tensors import TensorSpec

log = logging.getLogger(__name__)

# The runtime's own default is 10x the file size, too small for tiny models with
# large activations; untouched host pages cost nothing.
MIN_DEFAULT_ARENA_BYTES = 4 << 20
ARENA_ALIGNMENT = 16  # TFLM's MicroArenaBufferAlignment()
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_MAX_TENSORS = 64  # more inputs than this is not a TinyML model


def _loads_in_child(load: Callable[[], Any]) -> bool:
    """Whether ``load`` succeeds, tried in a forked child so that a crash cannot take us down."""
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: no Python cleanup, just the verdict
        die_with_parent(parent)  # a probe never outlives the helper
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


def _smallest_arena(loads_with: Callable[[int], bool], lower: int, works: int) -> int:
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


@dataclass(frozen=True)
class _Probe:
    arena_used: int = 0
    error: str = ""  # why TFLM cannot load the model ("" when it can)


def _probe(data: bytes, arena: int) -> _Probe:
    """In the helper process: can TFLM load ``data``, and with how small an arena?"""
    from tflite_micro.python.tflite_micro import runtime

    def loads(size: int) -> Any:
        return runtime.Interpreter.from_bytes(data, arena_size=size)

    def loads_with(size: int) -> bool:
        return _loads_in_child(lambda: loads(size))

    with CapturedNativeOutput() as out:
        if not loads_with(arena):
            reason = " | ".join(filter(None, out.text().splitlines())) or "the runtime crashed"
            return _Probe(error=f"TFLM cannot load it (arena {arena} bytes): {reason}")
        loads(arena).print_allocations()
        match = _ARENA_TOTAL.search(out.text())
        if match is None:
            return _Probe(error="TFLM printed no 'Arena allocation total' line (did the "
                                f"tflite-micro output format change?): {out.text()[:200]!r}")
        return _Probe(arena_used=_smallest_arena(loads_with, int(match.group(1)), arena))


_helper: ProcessPoolExecutor | None = None
_helper_lock = threading.Lock()


def _run_probe(data: bytes, arena: int) -> _Probe:
    """Run `_probe` in the long-lived helper process (started once, from a forkserver)."""
    global _helper
    with _helper_lock:
        if _helper is None:
            # exit_with: the worker and its forkserver would outlive a killed caller (its
            # watcher thread waits in select() holding no lock, so the probe forks stay safe)
            _helper = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("forkserver"),
                initializer=exit_with, initargs=(os.getpid(),))
        helper = _helper
    try:
        return helper.submit(_probe, data, arena).result()
    except BrokenProcessPool:  # the helper itself died: start afresh next time
        with _helper_lock:
            _helper = None
        raise ModelError("the TFLM probe process died unexpectedly") from None


class TflmHostModel:
    """One .tflite model loaded into the TFLM host interpreter (single input, single output)."""

    def __init__(self, path: Path, interpreter: Any, input_spec: TensorSpec,
                 output_spec: TensorSpec, arena_used_bytes: int) -> None:
        self.path = path
        self._interpreter = interpreter
        self.input_spec = input_spec
        self.output_spec = output_spec
        self.arena_used_bytes = arena_used_bytes

    @classmethod
    def load(cls, path: Path, arena_size: int | None = None) -> TflmHostModel:
        from tflite_micro.python.tflite_micro import runtime  # optional extra: [tflm]

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: not a file (expected a .tflite model)")
        data = path.read_bytes()
        if len(data) < 8 or data[4:8] != b"TFL3":
            raise ModelError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier at byte 4)")
        arena = arena_size or max(10 * len(data), MIN_DEFAULT_ARENA_BYTES)
        probe = _run_probe(data, arena)
        if probe.error:
            raise ModelError(f"{path}: {probe.error}")
        with CapturedNativeOutput():  # keeps TFLM's messages off the console
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=arena)
            n_in = _tensor_count(interpreter.get_input_details)
            n_out = _tensor_count(interpreter.get_output_details)
        if (n_in, n_out) != (1, 1):
            raise ModelError(f"{path}: has {n_in} inputs and {n_out} outputs; "
                             "the harness runs models with one input and one output")
        log.debug("%s: smallest TFLM arena %d bytes", path, probe.arena_used)
        return cls(path, interpreter, _spec(interpreter.get_input_details(0)),
                   _spec(interpreter.get_output_details(0)), probe.arena_used)

    def run(self, raw: np.ndarray | bytes) -> np.ndarray:
        """One inference from a fresh state: raw input (input dtype) -> raw output."""
        spec = self.input_spec
        if isinstance(raw, (bytes, bytearray, memoryview)):
            if len(raw) != spec.nbytes:
                raise ModelError(f"{self.path}: input is {len(raw)} bytes, expected "
                                 f"{spec.nbytes} ({spec.dtype} {spec.shape})")
            x = spec.from_bytes(bytes(raw))
        else:
            x = np.asarray(raw)
            if x.dtype != np.dtype(spec.dtype) or x.size != int(np.prod(spec.shape)):
                raise ModelError(f"{self.path}: input is {x.dtype} {x.shape}, expected "
                                 f"{spec.dtype} {spec.shape}")
            x = x.reshape(spec.shape)
        try:
            self._interpreter.reset()
            self._interpreter.set_input(np.ascontiguousarray(x), 0)
            self._interpreter.invoke()
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.path}: TFLM inference failed: {exc}") from exc
        return self._interpreter.get_output(0)


def _tensor_count(details: Callable[[int], dict]) -> int:
    """How many inputs (outputs) the interpreter has: it only answers per index."""
    for n in range(_MAX_TENSORS):
        try:
            details(n)
        except IndexError:
            return n
    return _MAX_TENSORS


def _spec(details: dict) -> TensorSpec:
    q = details["quantization_parameters"]
    scales, zero_points = q["scales"], q["zero_points"]
    return TensorSpec(
        dtype=np.dtype(details["dtype"]).name,
        shape=tuple(int(d) for d in details["shape"]),
        scale=float(scales[0]) if len(scales) else 0.0,
        zero_point=int(zero_points[0]) if len(zero_points) else 0,
    )
