"""Driver for simulated boards: starts the sim_board process and returns its pty."""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

from harness.boards.driver import LinkHint, register_driver
from harness.boards.sim_board import READY_PREFIX
from harness.config.board import BoardSpec, boards_dir
from harness.errors import BoardError

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0  # loading TFLM and a model takes a few seconds on a busy CI machine


class SimDriver:
    source = "simulated"

    def __init__(self, board: BoardSpec, workdir: Path, seed: int = 0) -> None:
        self._board = board
        self._workdir = workdir
        self._seed = seed
        self._proc: subprocess.Popen[str] | None = None
        #: the simulated board's power wire: the simulated monitor reads what it draws
        self.virtual_wire = workdir / f"{board.id}-{os.getpid()}.activity"
        self.log_path = workdir / f"{board.id}-{os.getpid()}.log"

    def start(self, model: Path) -> str:
        self.stop()
        self._workdir.mkdir(parents=True, exist_ok=True)
        self.virtual_wire.unlink(missing_ok=True)
        board_file = boards_dir() / f"{self._board.id}.yaml"
        cmd = [sys.executable, "-m", "harness.boards.sim_board", "--board-file", str(board_file),
               "--model", str(model), "--activity-log", str(self.virtual_wire),
               "--seed", str(self._seed)]
        log.info("starting simulated %s with %s", self._board.id, model.name)
        # stderr to a file, not a pipe: a chatty runtime must never block the board
        with self.log_path.open("w") as err:
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        return self._await_pty(model)

    def _await_pty(self, model: Path) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if sel.select(timeout=0.2):
                    line = self._proc.stdout.readline()
                    if line.startswith(READY_PREFIX):
                        return line[len(READY_PREFIX):].strip()
                    if not line:  # process ended before announcing its port
                        break
        self.stop()
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        reason = lines[-1] if lines else f"no port announced within {START_TIMEOUT_S:.0f} s"
        raise BoardError(f"simulated board {self._board.id} did not start with {model}: "
                         f"{reason} (log: {self.log_path})")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._proc = None


    def firmware_size(self) -> None:
        return None  # a simulated board runs no firmware: its size would be invented

    def virtual_wire_params(self) -> dict:
        """What a simulated monitor on this board's supply sees: its draw, idle included."""
        return {"activity_log": self.virtual_wire,
                "idle_current_a": self._board.power.idle_current_a}


@register_driver("sim")
def _create(board: BoardSpec, workdir: Path, link: LinkHint) -> SimDriver:
    return SimDriver(board, workdir)  # a simulated board has no port to be told about
