"""Where a job's board is: started with the job's model, or found as it is (preflashed).

``firmware: build`` boards are built and flashed (or launched) by their driver.
A ``preflashed`` board already runs its firmware: the harness never builds or
flashes it, and only looks for its link: the bench's port when it names one,
else (hardware) the one USB port with the board's VID:PID and serial number.
"""

from __future__ import annotations

import logging
from pathlib import Path

from harness.boards.driver import BoardDriver
from harness.config.bench import BenchBoard

log = logging.getLogger(__name__)

#: how long a preflashed board's USB port is looked for
PORT_TIMEOUT_S = 5.0


def board_link(driver: BoardDriver, bench_board: BenchBoard, model: Path) -> str:
    """The pyserial URL of the board, running ``model`` (built) or its own firmware."""
    if bench_board.firmware == "build":
        return driver.start(model)
    if bench_board.port != "auto":
        log.info("board %s is preflashed; its link is %s", bench_board.id, bench_board.port)
        return bench_board.port
    return driver.relink(PORT_TIMEOUT_S)
