"""The simulated board process: serves the DUT protocol on a pseudo-terminal.

Started by the sim driver as ``python -m harness.boards.sim_board ...``; its first
line on stdout is ``PTY <path>``, after which the host opens that path with
pyserial exactly as it opens a real board's port. It runs until SIGTERM/SIGINT.

SIGUSR1 is its reset line: the board reboots at once (an INFER in progress is
lost) and sends READY. SIGUSR2 hangs it, as a stuck firmware would: it answers
nothing until a reset or a power-cycle. ``--supply`` is the file through which a
simulated monitor switches its power (harness/boards/sim_power.py): off, it
answers nothing; on again, it boots. ``--pace realtime`` makes an
INFER take its modelled time and holds the link to the board's serial rate.
``--protocol mlperf`` serves MLPerf Tiny's text protocol instead
(harness/dut/mlperf_device.py); ``--timestamp-mode energy`` is its energy-mode
build, which talks at the board's energy-mode baud rate.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from harness.boards.calibration import find_calibration
from harness.boards.sim_power import PoweredDevice
from harness.boards.sim_runner import SimulatedRunner
from harness.config.board import BoardSpec, load_board
from harness.dut.device import ProtocolDevice
from harness.dut.mlperf_device import MlperfDevice, build_mlperf_device
from harness.dut.pty_link import ResetLine, open_pty, serve
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.power.sim_activity import ActivityWriter

READY_PREFIX = "PTY "


def build_device(board: BoardSpec, model_path: Path, activity_log: Path | None, seed: int,
                 realtime_sleep: Callable[[float], bool] | None = None) -> ProtocolDevice:
    """The board's device; with ``realtime_sleep``, INFERs spend their modelled time with it."""
    info = inspect_tflite(model_path)
    model = TflmHostModel.load(model_path)
    activity = ActivityWriter(activity_log) if activity_log else None
    calibration = find_calibration(board.id, board.build.kernels)
    runner = SimulatedRunner(board, model, info, activity, seed=seed,
                             realtime_sleep=realtime_sleep, calibration=calibration)
    return ProtocolDevice(
        runner,
        board_id=f"sim:{board.id}",
        clock_hz=board.clock_hz,
        # the latency model, and the calibration it uses (none: the published constants)
        counter=f"model:{calibration.name}" if calibration else "model",
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
    parser.add_argument("--supply", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pace", choices=["instant", "realtime"], default="instant")
    parser.add_argument("--protocol", choices=["harness", "mlperf"], default="harness")
    parser.add_argument("--timestamp-mode", choices=["performance", "energy"],
                        default="performance")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="sim-board %(levelname)s %(message)s")

    board = load_board(args.board_file)
    realtime = args.pace == "realtime"
    reset = ResetLine()
    sleep = reset.sleep if realtime else None
    rate = board.serial.bytes_per_s
    device: ProtocolDevice | MlperfDevice
    if args.protocol == "mlperf":
        device = build_mlperf_device(board, args.model, mode=args.timestamp_mode,
                                     activity_log=args.activity_log, seed=args.seed,
                                     realtime_sleep=sleep)
        if args.timestamp_mode == "energy":
            rate = (board.energy_link.baudrate or board.serial.baudrate) / 10
    else:
        device = build_device(board, args.model, args.activity_log, args.seed, sleep)
    master_fd, slave_path = open_pty()
    stop = threading.Event()

    def stop_now(*_: object) -> None:
        stop.set()
        reset.request()  # the pipe write wakes a realtime INFER, so it stops unfinished

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop_now)
    powered = PoweredDevice(device, reset, args.supply)
    signal.signal(signal.SIGUSR1, lambda *_: powered.reset())
    signal.signal(signal.SIGUSR2, lambda *_: powered.hang())
    threading.Thread(target=powered.watch, args=(stop,), name="supply", daemon=True).start()
    sys.stdout.write(f"{READY_PREFIX}{slave_path}\n")
    sys.stdout.flush()
    serve(master_fd, powered, stop, rate if realtime else None, reset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
