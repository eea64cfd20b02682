"""Hung boards the host cannot reset: power-cycled through the monitor that sources them.

Real simulated board processes on real ptys; the simulated monitor switches their
supply through the virtual wire's supply file; hangs come from the fault relay
(`faults:` in a bench) or from the driver, as an unkind bench would have them.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from tiny_tflite import dense_float_model

from harness.boards.driver import Pace
from harness.boards.sim_driver import SimDriver
from harness.cli import main
from harness.config.bench import BenchMonitor
from harness.config.board import BoardSpec, boards_dir, find_board, load_board
from harness.config.faults import FaultSpec
from harness.dut.messages import Infer, MsgType
from harness.dut.recovery import Recovery
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import ConfigError, DeviceError, NoResetLine, ReplyTimeout
from harness.faults import wrap_with_faults
from harness.job_power import JobPower
from harness.measure.energy_run import measure_energy_per_inference
from harness.measure.recoveries import RecoveryWatch
from harness.power.monitor import PowerMonitor

INPUTS, UNITS = 256, 64


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(4)
    return dense_float_model(tmp_path_factory.mktemp("model") / "dense.tflite",
                             rng.standard_normal((UNITS, INPUTS)).astype(np.float32),
                             np.zeros(UNITS, np.float32))


@pytest.fixture
def nucleo() -> BoardSpec:
    return find_board("nucleo_l4r5zi")


@contextmanager
def _started(board: BoardSpec, model: Path, workdir: Path, pace: Pace = "instant"
             ) -> Iterator[SimDriver]:
    driver = SimDriver(board, workdir, pace=pace)
    driver.start(model)
    try:
        yield driver
    finally:
        driver.stop()


def _power(board: BoardSpec, driver: SimDriver) -> JobPower:
    spec = BenchMonitor(id="mon", backend="sim", powers="l4", sample_rate=20_000)
    power = JobPower(spec, board, driver)
    power.open()
    assert power.sources_board
    return power


# --- the board file ------------------------------------------------------------------

def test_the_reset_line_follows_resets_on_open_unless_said_and_is_checked(tmp_path):
    assert find_board("esp32dev").serial.reset_line == "rts"
    assert find_board("nucleo_l4r5zi").serial.reset_line == "none"
    assert find_board("nano33ble").serial.reset_line == "none"
    esp = yaml.safe_load((boards_dir() / "esp32dev.yaml").read_text())
    del esp["serial"]["reset_line"]        # a lab's older file: resets on open, so RTS
    (tmp_path / "esp32dev.yaml").write_text(yaml.safe_dump(esp))
    assert load_board(tmp_path / "esp32dev.yaml").serial.reset_line == "rts"

    nano = yaml.safe_load((boards_dir() / "nano33ble.yaml").read_text())
    nano["serial"]["reset_line"] = "rts"   # its USB is the MCU's own: no bridge, no RTS
    (tmp_path / "nano33ble.yaml").write_text(yaml.safe_dump(nano))
    with pytest.raises(ConfigError, match=r"nano33ble.yaml:serial.reset_line: a usb-cdc"):
        load_board(tmp_path / "nano33ble.yaml")
    nano["serial"]["reset_line"] = "dtr"
    (tmp_path / "nano33ble.yaml").write_text(yaml.safe_dump(nano))
    with pytest.raises(ConfigError, match=r"serial.reset_line"):
        load_board(tmp_path / "nano33ble.yaml")
    nano["serial"]["reset_line"] = "none"
    nano["supply"]["power_cycle_off_s"] = 0
    (tmp_path / "nano33ble.yaml").write_text(yaml.safe_dump(nano))
    with pytest.raises(ConfigError, match=r"supply.power_cycle_off_s"):
        load_board(tmp_path / "nano33ble.yaml")


# --- the simulated board and its supply ------------------------------------------------

def test_cutting_the_sim_monitors_output_cuts_the_boards_power(model, nucleo, tmp_path):
    with _started(nucleo, model, tmp_path) as driver:
        power = _power(nucleo, driver)
        try:
            with DutSession(open_link(driver.relink(1.0), nucleo.serial.baudrate)) as session:
                assert session.wait_ready(3.0)
                session.hello()
                session.upload(bytes(INPUTS * 4))
                infer = Infer(0, 1, 0).pack()
                session.request(MsgType.INFER, infer)           # it has its input
                power.monitor.set_output(False)
                time.sleep(0.1)
                with pytest.raises(ReplyTimeout):
                    session.request(MsgType.PING, b"dark", timeout=0.5)
                power.monitor.set_output(True)
                assert session.wait_ready(2.0)                  # it boots on power-up
                with pytest.raises(DeviceError, match="BAD_STATE"):
                    session.request(MsgType.INFER, infer)       # with its input gone
        finally:
            power.close()


def test_a_hang_the_host_cannot_reset_is_power_cycled_within_the_boards_off_time(
        model, nucleo, tmp_path):
    with _started(nucleo, model, tmp_path) as driver:
        power = _power(nucleo, driver)
        recovery = Recovery(board="l4", reset=driver.reset, power_cycle=power.power_cycle)
        try:
            with DutSession(open_link(driver.relink(1.0), nucleo.serial.baudrate), timeout=0.5,
                            recovery=recovery, expected_s_per_inference=0.01) as session:
                session.connect(3.0)
                session.hello()
                session.upload(bytes(INPUTS * 4))
                before = session.infer(0, 3).output
                driver.hang()
                started = time.monotonic()
                after = session.infer(0, 3).output     # input uploaded again, repeated
                took = time.monotonic() - started
            assert after == before
            assert (session.stats.hang_resets, session.stats.power_cycles) == (1, 1)
            assert took >= nucleo.supply.power_cycle_off_s
        finally:
            power.close()


def test_the_fault_layer_refuses_a_host_reset_the_board_has_no_line_for(model, tmp_path):
    nano = find_board("nano33ble")
    driver = wrap_with_faults(SimDriver(nano, tmp_path), nano, FaultSpec(), "nano", tmp_path)
    driver.start(model)
    try:
        with pytest.raises(NoResetLine, match="board nano: no reset line"):
            driver.reset()
    finally:
        driver.stop()


class _HangsOnStart:
    """The monitor, and the board hanging as soon as the capture starts: its first
    window's INFER meets a hung board, so the power-cycle falls inside the trace."""

    def __init__(self, monitor: PowerMonitor, driver: SimDriver) -> None:
        self._monitor, self._driver = monitor, driver

    def start(self) -> None:
        self._monitor.start()
        self._driver.hang()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._monitor, name)


def test_a_power_cycle_during_an_energy_capture_disturbs_it_visibly(model, nucleo, tmp_path):
    """The trace shows the supply off, and the attempt counts as disturbed, so the energy
    mode measures it again (job.py `_energy_rows`) instead of keeping its figure."""
    with _started(nucleo, model, tmp_path) as driver:
        power = _power(nucleo, driver)
        recovery = Recovery(board="l4", reset=driver.reset, power_cycle=power.power_cycle)
        try:
            with DutSession(open_link(driver.relink(1.0), nucleo.serial.baudrate), timeout=0.5,
                            recovery=recovery) as session:
                session.connect(3.0)
                session.hello()
                per_inference = session.run(bytes(INPUTS * 4), 0, 1).total_cycles / \
                    nucleo.clock_hz
                watch = RecoveryWatch(session)
                trace_path = tmp_path / "trace.npz"
                measure_energy_per_inference(session, _HangsOnStart(power.monitor, driver),
                                             bytes(INPUTS * 4), windows=3,
                                             inferences_per_window=4, idle_s=0.05,
                                             trace_path=trace_path, latency_s=per_inference)
            assert watch.disturbed() == {"hang_resets": 1, "power_cycles": 1}
            current = np.load(trace_path)["current_a"]
            off = current < nucleo.power.idle_current_a / 10
            longest = max(len(run) for run in np.split(off, np.flatnonzero(np.diff(off)) + 1)
                          if run.all())
            assert longest / 20_000 >= 0.9 * nucleo.supply.power_cycle_off_s
        finally:
            power.close()


# --- harness run ---------------------------------------------------------------------

def _bench(tmp_path: Path, monitor: bool, faults: dict, energy: bool = True) -> Path:
    rng = np.random.default_rng(0)
    dense_float_model(tmp_path / "m.tflite", rng.normal(size=(4, 8)).astype("f4"),
                      rng.normal(size=4).astype("f4"))
    modes: dict = {"performance": {"warmups": 1, "runs": 20}, "accuracy": {"samples": 20}}
    bench: dict = {"name": "no-reset-line",
                   "boards": [{"id": "l4", "board": "nucleo_l4r5zi", "kind": "sim"}],
                   "models": [{"id": "m", "path": "m.tflite"}], "modes": modes,
                   "faults": faults}
    if monitor:
        bench["monitors"] = [{"id": "mon", "backend": "sim", "powers": "l4",
                              "sample_rate": 20000}]
        if energy:
            modes["energy"] = {"windows": 3, "inferences_per_window": 3, "idle_s": 0.05}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    return path


def _run(tmp_path: Path, bench: Path) -> tuple[int, Path]:
    results = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(bench), "--results-dir", str(results)],
                                catch_exceptions=False)
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return result.exit_code, run_dir


HANGS = {"seed": 2, "hang_rate": 0.03}


def test_a_nucleo_powered_by_a_monitor_survives_its_hangs_by_power_cycles(tmp_path):
    code, run_dir = _run(tmp_path, _bench(tmp_path, monitor=True, faults=HANGS))
    assert code == 0
    with (run_dir / "results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    totals = {r["metric"]: float(r["value"]) for r in rows if r["mode"] == "info"}
    assert totals["board_power_cycles"] > 0
    assert totals["board_hangs"] == totals["board_power_cycles"]   # no reset line: all cycled
    flagged = [r for r in rows if "power-cycle through its monitor" in r["notes"]]
    assert flagged and all("caveat: survived" in r["notes"] for r in flagged)
    faults = [json.loads(line) for line in
              (run_dir / "work" / "l4" / "faults.jsonl").read_text().splitlines()]
    # a hang injected after the job's last reply goes unseen: none is counted twice
    assert sum(f["hangs"] for f in faults) >= totals["board_power_cycles"]


def test_a_monitor_supplies_and_power_cycles_its_board_in_a_job_without_energy(tmp_path):
    code, run_dir = _run(tmp_path, _bench(tmp_path, monitor=True, faults=HANGS, energy=False))
    assert code == 0
    with (run_dir / "results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert not [r for r in rows if r["mode"] == "energy"]
    totals = {r["metric"]: float(r["value"]) for r in rows if r["mode"] == "info"}
    assert totals["board_power_cycles"] > 0


def test_the_same_bench_without_a_monitor_fails_saying_what_to_wire(tmp_path):
    code, run_dir = _run(tmp_path, _bench(tmp_path, monitor=False, faults=HANGS))
    assert code != 0
    (outcome,) = [json.loads(line) for line in (run_dir / "jobs.jsonl").read_text().splitlines()]
    assert outcome["status"] in ("failed", "partial")
    message = outcome["message"]
    assert "board l4 stopped answering" in message
    assert "no reset line the host can drive (serial.reset_line: none" in message
    assert "monitors[] entry with powers: l4" in message
