"""The board-driver interface and its registry.

A driver knows how to bring one kind of board up with a model on it (build and
flash real hardware, launch QEMU, start the simulated board process) and where
its serial link is. What is said over that link is the DUT session's business,
identical for every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from harness.errors import BoardError

if TYPE_CHECKING:
    from harness.config.board import BoardSpec

Source = Literal["measured", "emulated", "simulated"]


class BoardDriver(Protocol):
    """What every board kind provides. Constructors do no I/O."""

    @property
    def source(self) -> Source:
        """How figures from this board are labelled in every result row."""
        ...

    def start(self, model: Path) -> str:
        """Bring the board up running ``model``; return a pyserial URL for its link."""
        ...

    def stop(self) -> None:
        """Release the board (idempotent)."""
        ...

    def firmware_size(self) -> tuple[int, int] | None:
        """Flash and static RAM bytes of the firmware it started (None: no firmware)."""
        ...

    def reset(self) -> None:
        """Reboot the board (it forgets its state and sends READY); BoardError if this
        board has no way to be reset from the host."""
        ...

    def relink(self, timeout: float) -> str:
        """Where the board's link is now: after a reset a USB board may re-enumerate
        under another name, found again by VID:PID and serial number."""
        ...


Pace = Literal["instant", "realtime"]


@dataclass(frozen=True)
class LinkHint:
    """Where the bench says a board is plugged in (hardware boards), and how a simulated
    board keeps time (``realtime``: modelled latency in wall time, link at its serial rate).
    A simulated board also serves the protocol its firmware would speak: MLPerf Tiny's
    text protocol in one of its two firmware builds (``timestamp_mode``)."""

    port: str = "auto"
    serial_number: str | None = None
    pace: Pace = "instant"
    protocol: Literal["harness", "mlperf"] = "harness"
    timestamp_mode: Literal["performance", "energy"] = "performance"


DriverFactory = Callable[["BoardSpec", Path, LinkHint], BoardDriver]
_DRIVERS: dict[str, DriverFactory] = {}


def register_driver(kind: str) -> Callable[[DriverFactory], DriverFactory]:
    """Register the factory for a board ``kind`` (``hardware``, ``qemu``, ``sim``)."""

    def decorate(factory: DriverFactory) -> DriverFactory:
        if kind in _DRIVERS:
            raise ValueError(f"a board driver for kind {kind!r} is already registered")
        _DRIVERS[kind] = factory
        return factory

    return decorate


def create_driver(board: BoardSpec, workdir: Path, link: LinkHint | None = None) -> BoardDriver:
    """The driver for ``board.kind``; ``workdir`` is where it may keep files for this run."""
    _load_builtin_drivers()
    try:
        factory = _DRIVERS[board.kind]
    except KeyError:
        known = ", ".join(sorted(_DRIVERS))
        raise BoardError(f"no driver for board kind {board.kind!r} (known: {known})") from None
    return factory(board, workdir, link or LinkHint())


def _load_builtin_drivers() -> None:
    # Imported here, not at module top, so that registering is explicit and a
    # driver's heavy imports are paid only when a bench uses boards.
    from harness.boards import hardware_driver, qemu_driver, sim_driver  # noqa: F401
