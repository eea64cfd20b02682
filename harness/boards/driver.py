"""The board-driver interface and its registry.

A driver knows how to bring one kind of board up with a model on it (build and
flash real hardware, launch QEMU, start the simulated board process) and where
its serial link is. What is said over that link is the DUT session's business,
identical for every kind.

`BOARD_DRIVERS` holds every kind a board file may name: the built-in ones and the
``tinyml_harness.boards`` entry points (`harness/plugins.py`), each a `DriverInfo`
naming the module whose `register_driver` supplies the factory, a label, and the
schema of the bench's ``boards[].params`` for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from harness.errors import BoardError, HarnessError
from harness.plugins import Registry

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
    #: the bench's ``boards[].params``, valid under the driver's `DriverInfo.params`
    params: Mapping[str, Any] = field(default_factory=dict)


class NoParams(BaseModel):
    """A driver that takes no ``boards[].params``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class DriverInfo:
    """A board kind's entry in the registry (a plugin's entry point names one of these)."""

    module: str                             # imported, it registers the kind's factory
    label: str                              # what this kind of board is, for people
    params: type[BaseModel] = NoParams      # what ``boards[].params`` may say


BOARD_DRIVERS = Registry("board driver", "tinyml_harness.boards", DriverInfo, {
    "hardware": DriverInfo("harness.boards.hardware_driver",
                           "hardware board (built and flashed with PlatformIO)"),
    "qemu": DriverInfo("harness.boards.qemu_driver", "emulated board (firmware in QEMU)"),
    "sim": DriverInfo("harness.boards.sim_driver",
                      "simulated board (TFLM host runtime + latency and power model)"),
})


DriverFactory = Callable[["BoardSpec", Path, LinkHint], BoardDriver]
_DRIVERS: dict[str, DriverFactory] = {}


def register_driver(kind: str) -> Callable[[DriverFactory], DriverFactory]:
    """Register the factory for a board ``kind`` (``hardware``, ``qemu``, ``sim``, or a
    plugin's, whose `DriverInfo.module` does this when imported)."""

    def decorate(factory: DriverFactory) -> DriverFactory:
        if kind in _DRIVERS:
            raise ValueError(f"a board driver for kind {kind!r} is already registered")
        _DRIVERS[kind] = factory
        return factory

    return decorate


def create_driver(board: BoardSpec, workdir: Path, link: LinkHint | None = None) -> BoardDriver:
    """The driver for ``board.kind``; ``workdir`` is where it may keep files for this run."""
    try:
        info = BOARD_DRIVERS.get(board.kind)
    except HarnessError as exc:  # unknown, or a plugin that does not load
        raise BoardError(str(exc)) from exc
    if board.kind not in _DRIVERS:
        # Imported only now, so a driver's heavy imports are paid when a bench uses it.
        importlib.import_module(info.module)
    try:
        factory = _DRIVERS[board.kind]
    except KeyError:
        raise BoardError(f"board kind {board.kind!r}: importing {info.module} registered no "
                         "driver of that kind (@register_driver)") from None
    return factory(board, workdir, link or LinkHint())
