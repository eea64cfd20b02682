"""Driver for simulated boards: starts the sim_board process and returns its pty.

Board control is by signal: ``reboot()`` is SIGUSR1 (the board reboots and sends
READY, a hang ends), ``hang()`` is SIGUSR2. ``reset()`` is the host's reset: a
reboot on a board whose definition has a reset line the host drives
(``serial.reset_line: rts``, the ESP32), refused (`NoResetLine`) on any other, as
on the real board, so a hang there needs a power-cycle through the simulated
monitor, which switches the board's supply through ``supply_wire``. With
``protocol="mlperf"`` the board runs MLPerf Tiny firmware instead
(harness/dut/mlperf_device.py), built for ``timestamp_mode``.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from harness.boards.driver import LinkHint, Pace, Source, register_driver
from harness.boards.sim_board import READY_PREFIX
from harness.config.board import BoardSpec
from harness.errors import BoardError, NoResetLine
from harness.procs import spawn

log = logging.getLogger(__name__)
START_TIMEOUT_S = 60.0  # loading TFLM and a model takes a few seconds on a busy CI machine


class SimDriver:
    source: Source = "simulated"

    def __init__(self, board: BoardSpec, workdir: Path, seed: int = 0,
                 pace: Pace = "instant", protocol: str = "harness",
                 timestamp_mode: str = "performance") -> None:
        self._board = board
        self._workdir = workdir
        self._seed = seed
        self.pace = pace
        self.protocol = protocol
        self.timestamp_mode = timestamp_mode
        self._proc: subprocess.Popen[str] | None = None
        self._url: str | None = None
        #: the simulated board's power wire: the simulated monitor reads what it draws
        self.virtual_wire = workdir / f"{board.id}-{os.getpid()}.activity"
        #: and its supply: the simulated monitor's output, which the board follows
        self.supply_wire = workdir / f"{board.id}-{os.getpid()}.supply"
        self.log_path = workdir / f"{board.id}-{os.getpid()}.log"

    def start(self, model: Path) -> str:
        self.stop()
        self._workdir.mkdir(parents=True, exist_ok=True)
        self.virtual_wire.unlink(missing_ok=True)
        # The definition the bench resolved (a lab's own file, the kind override), as the
        # board process reads it: it has no bench to find it by.
        board_file = self._workdir / "boards" / f"{self._board.id}.yaml"
        board_file.parent.mkdir(exist_ok=True)
        board_file.write_text(yaml.safe_dump(self._board.model_dump(mode="json"),
                                             sort_keys=False))
        cmd = [sys.executable, "-m", "harness.boards.sim_board", "--board-file", str(board_file),
               "--model", str(model), "--activity-log", str(self.virtual_wire),
               "--supply", str(self.supply_wire),
               "--seed", str(self._seed), "--pace", self.pace, "--protocol", self.protocol,
               "--timestamp-mode", self.timestamp_mode]
        log.info("starting simulated %s with %s", self._board.id, model.name)
        # stderr to a file, not a pipe: a chatty runtime must never block the board
        with self.log_path.open("w") as err:
            self._proc = spawn(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        self._url = self._await_pty(model)
        return self._url

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

    @property
    def resettable(self) -> bool:
        """Whether the host can reset it: its board file names a reset line it drives."""
        return self._board.serial.reset_line != "none"

    def reset(self) -> None:
        """The host's reset through the board's reset line: a reboot, if it has one."""
        if not self.resettable:
            raise NoResetLine(f"simulated board {self._board.id}: no reset line the host can "
                              f"drive (serial.reset_line: none, as on the real "
                              f"{self._board.name}); power-cycle it through a monitor that "
                              "sources it")
        self.reboot()

    def reboot(self) -> None:
        """The board reboots now (brown-out, watchdog, power-on): it forgets everything
        and sends READY; a hang ends too."""
        self._signal(signal.SIGUSR1)

    def hang(self) -> None:
        """The board stops executing, and answers nothing, until a reboot or a
        power-cycle."""
        self._signal(signal.SIGUSR2)

    def relink(self, timeout: float) -> str:
        """The board's link now: a simulated board keeps its pty across resets."""
        if self._url is None or not self.running:
            raise BoardError(f"simulated board {self._board.id} is not running")
        return self._url

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise BoardError(f"simulated board {self._board.id} is not running "
                             f"(log: {self.log_path})")
        self._proc.send_signal(sig)

    def stop(self) -> None:
        self._url = None
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
        """What a simulated monitor on this board's supply sees: its draw, idle included,
        and the supply it switches."""
        params = {"activity_log": self.virtual_wire, "supply_path": self.supply_wire,
                  "idle_current_a": self._board.power.idle_current_a}
        if self.protocol == "mlperf" and self.timestamp_mode == "energy":
            params["marker_active_low"] = True     # MLPerf's timestamp pin: pulled low to mark
        return params


@register_driver("sim")
def _create(board: BoardSpec, workdir: Path, link: LinkHint) -> SimDriver:
    # no port to be told about: only its pace, and the firmware it runs
    return SimDriver(board, workdir, pace=link.pace, protocol=link.protocol,
                     timestamp_mode=link.timestamp_mode)
