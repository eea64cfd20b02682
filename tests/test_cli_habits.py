"""CLI habits (issue 13, item 3): -v anywhere, run filters and --dry-run, flash finding its
board, a lab's own board files, and the exit codes of a failed job and a regression."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from tiny_tflite import dense_float_model

from harness.boards import usb_ports
from harness.boards.latency_model import estimate
from harness.cli import main
from harness.config.board import find_board
from harness.errors import ExitCode
from harness.firmware import pio_project, platformio
from harness.models.tflite_inspect import inspect_tflite

BOARDS = Path(__file__).resolve().parents[1] / "boards"


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _bench(tmp_path: Path, **changes) -> Path:
    rng = np.random.default_rng(0)
    dense_float_model(tmp_path / "m.tflite", rng.normal(size=(3, 16)).astype(np.float32),
                      np.zeros(3, np.float32))
    data = {"name": "habits",
            "boards": [{"id": "l4", "board": "nucleo_l4r5zi", "kind": "sim"},
                       {"id": "nano", "board": "nano33ble", "kind": "sim"}],
            "monitors": [{"id": "mon", "backend": "sim", "powers": "l4"}],
            "models": [{"id": "m", "path": "m.tflite"}],
            "modes": {"performance": {"warmups": 2, "runs": 20}, "accuracy": {"samples": 30},
                      "energy": {"windows": 3, "inferences_per_window": 4, "idle_s": 0.1}}}
    data.update(changes)
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(("args", "level"), [
    (["boards"], logging.WARNING), (["-v", "boards"], logging.INFO),
    (["boards", "-v"], logging.INFO), (["-v", "boards", "-v"], logging.DEBUG),
    (["boards", "-vv"], logging.DEBUG)])
def test_verbose_goes_before_or_after_the_command(args: list[str], level: int) -> None:
    assert _cli(*args).exit_code == 0
    assert logging.getLogger().level == level


def test_dry_run_prints_each_job_and_its_board_time_and_writes_nothing(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    result = _cli("run", str(bench), "--dry-run", "--results-dir", str(tmp_path / "results"))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "results").exists()
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()
            if line.strip().startswith(("l4/", "nano/"))}
    info = inspect_tflite(tmp_path / "m.tflite")
    for board_id, key, monitored in (("nucleo_l4r5zi", "l4/m/as-is", True),
                                     ("nano33ble", "nano/m/as-is", False)):
        board = find_board(board_id)
        latency = estimate(info, board.core, board.build.kernels, board.clock_hz).seconds
        # warm-ups + runs + accuracy samples, and energy windows only under a monitor
        inferences = 2 + 20 + 30 + (3 * 4 if monitored else 0)
        idle = 0.1 * (3 + 1) if monitored else 0.0
        row = rows[key]
        assert row[row.index("energy" if monitored else "accuracy") + 1:][:3] == [
            f"{latency * 1e3:.3g}", f"{inferences:,}", f"{inferences * latency + idle:.3g}"]
    assert "expected:" in result.output and "for 2 jobs" in result.output


def test_filters_pick_jobs_and_modes_and_name_what_the_bench_lacks(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    result = _cli("run", str(bench), "--dry-run", "--board", "nano", "--mode", "performance")
    assert result.exit_code == 0, result.output
    assert "nano/m/as-is" in result.output and "l4/m/as-is" not in result.output
    assert "1 jobs" in result.output and "accuracy" not in result.output
    wrong = _cli("run", str(bench), "--dry-run", "--board", "l4r5")
    assert wrong.exit_code == ExitCode.CONFIG
    assert "--board: the bench has no 'l4r5' (it has: l4, nano)" in " ".join(wrong.output.split())
    lacking = _cli("run", str(_bench(tmp_path, modes={"performance": {}})), "--dry-run",
                   "--mode", "energy")
    assert lacking.exit_code == ExitCode.CONFIG
    assert "no 'energy' (it has: performance)" in " ".join(lacking.output.split())


def _rows(results: Path) -> list[dict[str, str]]:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    with (run_dir / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_a_filtered_run_on_a_labs_own_board_file(tmp_path: Path) -> None:
    """The lab's board file (bench key boards_dir) is the one the simulated board runs."""
    lab = tmp_path / "lab-boards"
    lab.mkdir()
    data = yaml.safe_load((BOARDS / "nucleo_l4r5zi.yaml").read_text())
    data.update(id="lab_l4", clock_hz=60_000_000)     # the lab runs it at half the clock
    (lab / "lab_l4.yaml").write_text(yaml.safe_dump(data))
    bench = _bench(tmp_path, boards_dir="lab-boards",
                   boards=[{"id": "mine", "board": "lab_l4", "kind": "sim"},
                           {"id": "l4", "board": "nucleo_l4r5zi", "kind": "sim"}],
                   monitors=[])
    results = tmp_path / "results"
    result = _cli("run", str(bench), "--results-dir", str(results), "--board", "mine",
                  "--board", "l4", "--mode", "performance")
    assert result.exit_code == 0, result.output
    rows = _rows(results)
    assert {r["board"] for r in rows} == {"mine", "l4"}
    assert {r["mode"] for r in rows} <= {"performance", "info"}
    latency = {r["board"]: float(r["value"]) for r in rows if r["metric"] == "latency_median"}
    assert latency["mine"] == pytest.approx(2 * latency["l4"], rel=0.01)  # half the clock
    listed = _cli("boards", "--boards-dir", str(lab))
    assert "lab_l4" in listed.output and "nucleo_l4r5zi" in listed.output


@pytest.mark.slow
def test_a_failed_job_exits_3(tmp_path: Path) -> None:
    bench = _bench(tmp_path, monitors=[{"id": "mon", "backend": "sim", "powers": "l4",
                                        "params": {"disconnect_after_s": 0.02}}])
    result = _cli("run", str(bench), "--results-dir", str(tmp_path / "results"),
                  "--board", "l4", "--mode", "energy")
    assert result.exit_code == ExitCode.JOB_FAILED, result.output
    assert "failed l4/m/as-is" in " ".join(result.output.split())


def test_flash_finds_its_board_as_run_does(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --port, flash takes the one USB port with the board file's VID:PID (and
    --serial-number). PlatformIO's upload, which needs the board, is the test's edge."""
    uploads: list[str] = []
    monkeypatch.setattr(platformio, "upload", lambda project, env, port: uploads.append(port))
    monkeypatch.setattr(pio_project, "build_root", lambda: tmp_path)
    (tmp_path / "nano33ble-0").mkdir()
    (tmp_path / "nano33ble-0" / pio_project.STAMP).write_text("{}")
    none = _cli("flash", "--board", "nano33ble")
    assert none.exit_code == ExitCode.ERROR and "no port with USB 2341:805a" in none.output
    try:
        usb_ports.register("/dev/pts/9901", 0x2341, 0x805A, "LAB-A")
        assert _cli("flash", "--board", "nano33ble").exit_code == 0
        usb_ports.register("/dev/pts/9902", 0x2341, 0x805A, "LAB-B")
        two = _cli("flash", "--board", "nano33ble")
        assert two.exit_code == ExitCode.ERROR and "several ports match" in two.output
        assert _cli("flash", "--board", "nano33ble", "--serial-number", "LAB-B").exit_code == 0
    finally:
        usb_ports.unregister("/dev/pts/9901")
        usb_ports.unregister("/dev/pts/9902")
    assert uploads == ["/dev/pts/9901", "/dev/pts/9902"]
