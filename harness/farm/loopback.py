"""A labgrid farm on this host, of simulated boards: what the farm tests and benchmark use.

Everything a lab runs, on loopback: a ``labgrid-coordinator``; ``labgrid-exporter``
processes, each exporting its boards' ports as ``RawSerialPort`` (the exporter
serves them through ser2net, as on a lab host) and a ``NetworkPowerPort`` per
board; places matching each board's resources, tagged ``board=<definition>``.
The boards are simulated boards (sim_board processes) or QEMU boards (firmware
in qemu-system-arm, its UART on a pty as an exporter host's serial port is)
started with one model each, so in a bench they are ``preflashed``. Their power
switch is a small HTTP server speaking the ``simplerest`` protocol labgrid's
power driver uses (``GET /<index>/<0|1>``): off stops the board (it answers
nothing), on reboots it (READY), as cutting and restoring a real board's supply
does.

Every process goes through `harness.procs.spawn`, so nothing outlives the harness;
`close()` ends them in order.
"""

from __future__ import annotations

import http.server
import logging
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import yaml

from harness.boards.driver import Pace
from harness.boards.qemu_driver import QemuDriver
from harness.boards.sim_driver import SimDriver
from harness.config.board import find_board
from harness.errors import BoardError
from harness.farm.coordinator import FarmClient
from harness.procs import Supervised, spawn, stop

log = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LoopbackBoard:
    place: str              # the place it is in
    definition: str         # boards/<definition>.yaml
    exporter: str           # which exporter exports its port
    model: Path             # what it runs ("flashed" with)
    pace: Pace = "instant"  # a simulated board's
    kind: Literal["sim", "qemu"] = "sim"
    runner: Literal["tflm", "checksum"] = "tflm"    # a QEMU board's firmware


class _Board(Protocol):
    """What the lab does with a board: start it, switch it, find its port."""

    @property
    def running(self) -> bool: ...
    def reboot(self) -> None: ...
    def hang(self) -> None: ...
    def relink(self, timeout: float) -> str: ...
    def stop(self) -> None: ...


@dataclass
class _Exporter:
    name: str
    config: Path
    proc: Supervised | None = None


@dataclass
class LoopbackFarm:
    """A coordinator, exporters and simulated boards on 127.0.0.1 (see the module doc)."""

    folder: Path
    boards: list[LoopbackBoard]
    address: str = ""
    sims: dict[str, _Board] = field(default_factory=dict)    # place -> its board
    exporters: dict[str, _Exporter] = field(default_factory=dict)
    switched: list[tuple[str, bool]] = field(default_factory=list)  # (place, on) in order
    _coordinator: Supervised | None = None
    _power: http.server.ThreadingHTTPServer | None = None

    def start(self) -> LoopbackFarm:
        """Start it all; the places exist and their exporters are connected on return."""
        for tool in ("ser2net", "labgrid-coordinator", "labgrid-exporter"):
            if shutil.which(tool, path=_path()) is None:
                raise BoardError(f"the loopback farm needs {tool} (apt-get install ser2net; "
                                 "pip install 'tinyml-harness[farm]')")
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._start_power()
            self._start_boards()
            self._start_coordinator()
            for name in dict.fromkeys(b.exporter for b in self.boards):
                self._write_exporter(name)
                self.start_exporter(name)
            with self.client() as client:
                for board in self.boards:
                    client.create_place(board.place, [f"{board.exporter}/{board.place}/*"],
                                        {"board": board.definition})
        except BaseException:
            self.close()
            raise
        return self

    def client(self) -> _Closing:
        return _Closing(FarmClient(self.address))

    # --- boards and their power switch ------------------------------------------------

    def _start_boards(self) -> None:
        for board in self.boards:
            folder = self.folder / "boards" / board.place
            sim: _Board
            if board.kind == "qemu":
                qemu = _PtyQemu(find_board(board.definition), folder, board.runner)
                qemu.start(board.model)
                sim = qemu
            else:
                spec = find_board(board.definition).model_copy(update={"kind": "sim"})
                simulated = SimDriver(spec, folder, pace=board.pace)
                simulated.start(board.model)
                sim = simulated
            self.sims[board.place] = sim

    def _start_power(self) -> None:
        farm = self

        class Switch(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:   # simplerest: /<index>/<value>; /<index> reads it
                parts = [p for p in self.path.split("/") if p]
                try:
                    board = farm.boards[int(parts[0])]
                    sim = farm.sims[board.place]
                    if len(parts) > 1:
                        (sim.reboot if parts[1] == "1" else sim.hang)()
                        farm.switched.append((board.place, parts[1] == "1"))
                    body = b"1" if sim.running else b"0"
                except (IndexError, ValueError, KeyError, BoardError) as exc:
                    self.send_error(400, str(exc))
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.info("power switch: " + format, *args)

        self._power = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Switch)
        threading.Thread(target=self._power.serve_forever, daemon=True,
                         name="loopback-power-switch").start()

    @property
    def power_url(self) -> str:
        assert self._power is not None
        return f"http://127.0.0.1:{self._power.server_address[1]}/{{index}}/{{value}}"

    # --- labgrid -----------------------------------------------------------------------

    def _start_coordinator(self) -> None:
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        folder = self.folder / "coordinator"
        folder.mkdir(exist_ok=True)
        with (folder / "coordinator.log").open("w") as out:
            self._coordinator = spawn([_tool("labgrid-coordinator"), "-l", self.address],
                                      stdout=out, stderr=out, cwd=folder)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self._coordinator.poll() is not None or time.monotonic() > deadline:
                    raise BoardError("labgrid-coordinator did not start (log: "
                                     f"{folder / 'coordinator.log'})") from None
                time.sleep(0.1)

    def _write_exporter(self, name: str) -> None:
        groups = {}
        for index, board in enumerate(self.boards):
            if board.exporter != name:
                continue
            sim = self.sims[board.place]
            groups[board.place] = {
                "RawSerialPort": {"port": sim.relink(0.0),
                                  "speed": find_board(board.definition).serial.baudrate},
                "NetworkPowerPort": {"model": "simplerest", "host": self.power_url,
                                     "index": index},
            }
        config = self.folder / f"exporter-{name}.yaml"
        config.write_text(yaml.safe_dump(groups, sort_keys=False))
        self.exporters[name] = _Exporter(name, config)

    def start_exporter(self, name: str) -> None:
        """Start (or start again) exporter ``name``; return once the coordinator has it."""
        exporter = self.exporters[name]
        with (self.folder / f"exporter-{name}.log").open("a") as out:
            exporter.proc = spawn([_tool("labgrid-exporter"), "-c", self.address, "-n", name,
                                   "--hostname", "127.0.0.1", str(exporter.config)],
                                  stdout=out, stderr=out, cwd=self.folder)
        with self.client() as client:
            deadline = time.monotonic() + START_TIMEOUT_S
            while name not in client.exporters():
                if exporter.proc.poll() is not None or time.monotonic() > deadline:
                    raise BoardError(f"labgrid exporter {name} did not connect (log: "
                                     f"{self.folder / f'exporter-{name}.log'})")
                time.sleep(0.1)

    def kill_exporter(self, name: str) -> None:
        """The exporter host goes away: SIGKILL, and its ser2net with it."""
        proc = self.exporters[name].proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL)   # the exporter itself; its supervisor ends ser2net
        proc.wait(10)
        self.exporters[name].proc = None

    def close(self) -> None:
        for exporter in self.exporters.values():
            if exporter.proc is not None:
                stop(exporter.proc)
                exporter.proc = None
        if self._coordinator is not None:
            stop(self._coordinator)
            self._coordinator = None
        for sim in self.sims.values():
            sim.stop()
        if self._power is not None:
            self._power.shutdown()
            self._power.server_close()
            self._power = None


class _PtyQemu(QemuDriver):
    """A QEMU board whose UART is a pty, as a board on an exporter host has a tty.

    QEMU drops what the guest sends while nobody has the pty open: its boot READY is
    lost, as a board's that booted before anyone listened.
    """

    _REDIRECTED = re.compile(r"char device redirected to (/dev/pts/\d+)")

    def command(self, elf: Path, qmp_socket: Path | None = None) -> list[str]:
        cmd = super().command(elf, qmp_socket)
        cmd[cmd.index("-serial") + 1] = "pty"
        return cmd

    def launch(self, elf: Path) -> str:
        self.stop()
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._qmp_dir = Path(tempfile.mkdtemp(prefix="harness-qmp-"))
        with self.log_path.open("wb") as out:
            self._proc = spawn(self.command(elf, self._qmp_socket), stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (found := self._REDIRECTED.search(self.log_path.read_text(errors="replace"))):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BoardError(f"QEMU did not open a pty (log: {self.log_path})")
            time.sleep(0.02)
        self._url = found[1]
        return self._url


class _Closing:
    """``with farm.client() as client``: a FarmClient closed after the block."""

    def __init__(self, client: FarmClient) -> None:
        self.client = client

    def __enter__(self) -> FarmClient:
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _path() -> str:
    """PATH with this Python's scripts folder first (labgrid's tools live in the venv)."""
    import os

    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _tool(name: str) -> str:
    found = shutil.which(name, path=_path())
    if found is None:
        raise BoardError(f"{name} not found")
    return found
