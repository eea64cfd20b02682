"""The simulated board process: serves the DUT protocol on a pseudo-terminal.

Started by the sim driver as ``python -m harness.boards.sim_board ...``; its first
line on stdout is ``PTY <path>``, after which the host opens that path with
pyserial exactly as it opens a real board's port. It runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from harness.boards.sim_runner import SimulatedRunner
from harness.config.board import load_board
from harness.dut.device import ProtocolDevice
from harness.dut.pty_link import open_pty, serve
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.power.sim_activity import ActivityWriter

READY_PREFIX = "PTY "


def build_device(board_file: Path, model_path: Path, activity_log: Path | None,
                 seed: int) -> ProtocolDevice:
    board = load_board(board_file)
    info = inspect_tflite(model_path)
    model = TflmHostModel.load(model_path)
    activity = ActivityWriter(activity_log) if activity_log else None
    runner = SimulatedRunner(board, model, info, activity, seed=seed)
    return ProtocolDevice(
        runner,
        board_id=f"sim:{board.id}",
        clock_hz=board.clock_hz,
        counter="model",
        arena_used=model.arena_used_bytes,
        model_hash=bytes.fromhex(info.sha256),
        inputs=[model.input_spec],
        outputs=[model.output_spec],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--board-file", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--activity-log", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="sim-board %(levelname)s %(message)s")

    device = build_device(args.board_file, args.model, args.activity_log, args.seed)
    master_fd, slave_path = open_pty()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sys.stdout.write(f"{READY_PREFIX}{slave_path}\n")
    sys.stdout.flush()
    serve(master_fd, device, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
