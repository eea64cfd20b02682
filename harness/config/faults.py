"""The ``faults:`` section of a bench file: what an unkind bench does to its boards.

Faults are injected on simulated and QEMU boards only (docs/bench.md, docs/reliability.md):
on the link between the host and the board, in the board's reset line and in the
simulated power monitor. Rates are probabilities per event, so a soak's fault count
follows from its length.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Direction = Literal["both", "to-board", "from-board"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkFaults(_Strict):
    """Byte faults on the serial line, per byte that crosses it."""

    drop_rate: float = Field(default=0.0, ge=0, le=0.1, description="P(a byte is lost)")
    duplicate_rate: float = Field(default=0.0, ge=0, le=0.1, description="P(a byte arrives twice)")
    corrupt_rate: float = Field(default=0.0, ge=0, le=0.1, description="P(a byte is flipped)")
    direction: Direction = "both"

    @property
    def any(self) -> bool:
        return bool(self.drop_rate or self.duplicate_rate or self.corrupt_rate)


class Reenumeration(_Strict):
    """USB CDC re-enumeration after a reset: the port vanishes, maybe under a new name."""

    min_s: float = Field(default=1.0, ge=0)
    max_s: float = Field(default=3.0, ge=0)
    rename: bool = Field(default=True, description="the port comes back under another name")

    @model_validator(mode="after")
    def _ordered(self) -> Reenumeration:
        if self.max_s < self.min_s:
            raise ValueError(f"max_s {self.max_s} is below min_s {self.min_s}")
        return self


class FaultSpec(_Strict):
    seed: int = Field(default=0, description="faults are reproducible from this seed")
    boards: list[str] | None = Field(default=None,
                                     description="bench board ids to afflict (default: all)")
    reset_on_open: bool = Field(
        default=False, description="the board resets when its port opens (ESP32 DTR/RTS): "
        "ROM boot text, then READY")
    reenumerate: Reenumeration | None = Field(
        default=None, description="after every reset the USB port vanishes and comes back")
    reset_rate: float = Field(default=0.0, ge=0, le=1,
                              description="P(a brown-out/watchdog reset during a command)")
    hang_rate: float = Field(default=0.0, ge=0, le=1,
                             description="P(the board stops answering during a command)")
    link: LinkFaults = Field(default_factory=LinkFaults)
    monitor_disconnect_rate: float = Field(
        default=0.0, ge=0, le=1,
        description="P(the power monitor disconnects during an energy trace)")

    def afflicts(self, bench_board_id: str) -> bool:
        return self.boards is None or bench_board_id in self.boards
