"""Driver for the emulated board: builds the firmware, runs it in qemu-system-arm.

UART0 is a TCP server on 127.0.0.1 that QEMU opens before the guest starts
(``server=on,wait=on``): the emulated board boots only once the host connects,
so its READY is never lost (with a pty, QEMU drops what the guest sends while
no one has the pty open). The port is chosen by the OS and read from QEMU's
log; the link is ``socket://127.0.0.1:<port>``.

A bench's qemu board runs the job's model on TFLM (built from $TFLM_DIR); the
model-free checksum runner serves the protocol tests that CI runs without TFLM.

Board control goes through QMP on a Unix socket (``harness/boards/qmp.py``):
``reset()`` is ``system_reset`` then ``cont`` (the guest boots again and re-sends
READY on the same TCP link), ``hang()`` is ``stop`` (the emulated CPU halts).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

from harness.boards import qmp
from harness.boards.driver import LinkHint, Source, register_driver
from harness.config.board import BoardSpec
from harness.errors import BoardError
from harness.firmware.qemu_build import QemuImage, build_qemu_image
from harness.firmware.qemu_tflm import Kernels, build_qemu_tflm_image
from harness.procs import spawn

log = logging.getLogger(__name__)

QEMU = "qemu-system-arm"
START_TIMEOUT_S = 10.0
Runner = Literal["tflm", "checksum"]
_TFLM_KERNELS: dict[str, Kernels] = {"cmsis-nn": "cmsis_nn", "reference": "reference"}
_LISTENING = re.compile(r"disconnected:tcp:127\.0\.0\.1:(\d+),server")


class QemuDriver:
    source: Source = "emulated"

    def __init__(self, board: BoardSpec, workdir: Path, runner: Runner = "tflm") -> None:
        if board.build.system != "qemu-make":
            raise BoardError(f"board {board.id}: the qemu driver builds with qemu-make, "
                             f"the board file says {board.build.system}")
        self._board = board
        self._workdir = workdir
        self._runner = runner
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        # a short folder of its own: a Unix socket path must fit in 108 bytes
        self._qmp_dir: Path | None = None
        self.image: QemuImage | None = None
        self.log_path = workdir / f"{board.id}-{os.getpid()}.qemu.log"

    def command(self, elf: Path, qmp_socket: Path | None = None) -> list[str]:
        control = ["-qmp", f"unix:{qmp_socket},server=on,wait=off"] if qmp_socket else []
        return [QEMU, "-M", self._board.build.env, "-nographic", "-monitor", "none", *control,
                "-semihosting-config", "enable=on,target=native",
                # one instruction per ns of virtual time: SysTick then counts instructions
                "-icount", "shift=0",
                "-kernel", str(elf),
                # nodelay: QEMU writes the UART's bytes to the socket one at a time, and
                # Nagle's algorithm then holds each reply's tail for the host's delayed ACK
                # (~40 ms a round trip: 48 ms against 4.4 ms for an INFER, 4.8 s against
                # 0.4 s for a 3 KB text-protocol upload, measured)
                "-serial", "tcp:127.0.0.1:0,server=on,wait=on,nodelay=on"]

    def start(self, model: Path) -> str:
        return self.launch(self.build(model))

    def build(self, model: Path) -> Path:
        """The firmware ELF for ``model`` (cached by content hash)."""
        if self._runner == "checksum":
            log.info("QEMU board %s runs the checksum runner; %s is not embedded",
                     self._board.id, model.name)
            self.image = build_qemu_image("checksum")
        else:
            kernels = _TFLM_KERNELS.get(self._board.build.kernels)
            if kernels is None:
                raise BoardError(f"board {self._board.id}: kernels {self._board.build.kernels!r}"
                                 " do not run on the emulated Cortex-M")
            self.image = build_qemu_tflm_image(model, kernels).image
        return self.image.elf

    def launch(self, elf: Path) -> str:
        """Start QEMU on ``elf``; return the pyserial URL of its UART."""
        self.stop()
        if shutil.which(QEMU) is None:
            raise BoardError(f"{QEMU} is not on PATH (Debian: apt-get install qemu-system-arm)")
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._qmp_dir = Path(tempfile.mkdtemp(prefix="harness-qmp-"))
        cmd = self.command(elf, self._qmp_socket)
        log.info("starting %s", " ".join(cmd))
        # Output to a file, not a pipe: QEMU must never block on a full pipe.
        with self.log_path.open("wb") as out:
            self._proc = spawn(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        port = self._await_port()
        self._url = f"socket://127.0.0.1:{port}"
        return self._url

    @property
    def _qmp_socket(self) -> Path:
        assert self._qmp_dir is not None
        return self._qmp_dir / "qmp.sock"

    #: the host resets it through QMP's ``system_reset``, the emulator's own reset, whatever
    #: its board file's ``serial.reset_line`` says (no monitor powers a QEMU board)
    resettable = True

    def reset(self) -> None:
        """Reboot the emulated board now (a hang ends too); its firmware sends READY again."""
        self._control("system_reset")
        self._control("cont")

    def reboot(self) -> None:
        """What the board does by itself (brown-out, watchdog): the same QMP reset."""
        self.reset()

    def hang(self) -> None:
        """The emulated CPU stops, and the board answers nothing, until ``reset()``."""
        self._control("stop")

    def relink(self, timeout: float) -> str:
        """The board's link now: QEMU keeps its UART socket (and the host's connection)."""
        if self._url is None or not self.running:
            raise BoardError(f"QEMU board {self._board.id} is not running")
        return self._url

    def _control(self, command: str) -> None:
        if not self.running:
            raise BoardError(f"QEMU board {self._board.id} is not running "
                             f"(log: {self.log_path})")
        qmp.execute(self._qmp_socket, command)

    def _await_port(self) -> int:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                return int(found[1])
            if self._proc.poll() is not None:
                break
            time.sleep(0.02)
        status = self._proc.poll()
        self.stop()
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        why = f"exited with status {status}" if status is not None else \
            f"did not open its UART socket within {START_TIMEOUT_S:.0f} s"
        raise BoardError(f"QEMU for {self._board.id} {why}: {' | '.join(tail) or 'no output'} "
                         f"(log: {self.log_path})")

    def stop(self) -> None:
        self._url = None
        self._stop_process()
        if self._qmp_dir is not None:
            shutil.rmtree(self._qmp_dir, ignore_errors=True)
            self._qmp_dir = None

    def _stop_process(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def firmware_size(self) -> tuple[int, int] | None:
        return None if self.image is None else (self.image.flash_bytes, self.image.ram_bytes)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


@register_driver("qemu")
def _create(board: BoardSpec, workdir: Path, link: LinkHint) -> QemuDriver:
    return QemuDriver(board, workdir)  # the link is QEMU's socket, never a bench port
