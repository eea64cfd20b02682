"""The system columns of an MLPerf-Tiny-style table, from the board definitions (the
run's own copies first: harness/results/run_boards.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from harness.errors import ConfigError
from harness.results.run_boards import BoardLookup

log = logging.getLogger(__name__)

KERNEL_LIBRARIES = {"cmsis-nn": "CMSIS-NN", "esp-nn": "ESP-NN",
                    "reference": "TFLM reference kernels"}
CORE_NAMES = {"cortex-m4f": "Cortex-M4F", "cortex-m7": "Cortex-M7", "cortex-m33": "Cortex-M33",
              "xtensa-lx6": "Xtensa LX6"}
# What runs the model, by board kind: a simulated board runs the TFLM host runtime
# under a latency model, so its "framework" must not read like firmware on silicon.
FRAMEWORKS = {"hardware": "TFLM", "qemu": "TFLM (in QEMU)", "sim": "TFLM host runtime"}


@dataclass(frozen=True)
class SystemInfo:
    board_def: str
    name: str
    processor: str        # MCU (core) @ clock
    clock_hz: int | None
    libraries: str


@cache
def system_info(board_def: str, boards: BoardLookup) -> SystemInfo:
    """The board definition's facts, from where ``boards`` looks (cached by both: two
    runs may hold different definitions of one id); one not found still gives a row."""
    try:
        board = boards.find(board_def)
    except ConfigError as exc:
        log.warning("report: %s", exc)
        return SystemInfo(board_def, board_def, "unknown (no board definition)", None, "unknown")
    processor = f"{board.mcu} ({CORE_NAMES[board.core]}) @ {board.clock_hz / 1e6:g} MHz"
    return SystemInfo(board_def, board.name, processor, board.clock_hz,
                      KERNEL_LIBRARIES[board.build.kernels])


def framework(board_kind: str) -> str:
    return FRAMEWORKS.get(board_kind, "TFLM")
