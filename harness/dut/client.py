"""What a job and the measurement procedures use of a DUT session, whatever its protocol.

Two sessions satisfy it: ``DutSession`` (the harness's binary protocol,
docs/protocol.md) and ``MlperfSession`` (MLPerf Tiny's text protocol,
docs/mlperf.md). Both learn their waits from the board (``waits``) and count
what the board put them through in ``stats``, so recovery notes and energy
repeats work alike.
"""

from __future__ import annotations

from typing import Protocol

from harness.dut.transport import LinkStats
from harness.dut.waits import InferWaits


class InferReply(Protocol):
    """One INFER's answer, as far as every protocol has it."""

    @property
    def runs(self) -> int: ...

    @property
    def output(self) -> bytes | None: ...


class DutClient(Protocol):
    stats: LinkStats
    waits: InferWaits

    @property
    def url(self) -> str: ...

    def wait_ready(self, timeout: float) -> bool: ...

    def upload(self, data: bytes) -> object: ...

    def infer(self, warmups: int = 0, runs: int = 1, per_run: bool = True,
              want_output: bool = True, timeout: float | None = None) -> InferReply: ...

    def close(self) -> None: ...
