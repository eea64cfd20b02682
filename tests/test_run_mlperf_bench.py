"""`harness run` with boards that speak MLPerf Tiny's text protocol, end to end.

A simulated board started by the harness serves the protocol as MLPerf firmware
would (performance mode, then its energy-mode build); preflashed DUTs are the
emulated MLPerf DUT (harness/dut/mlperf_device.py) served on real ptys, some of
them misbehaving as real ones do.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from harness.boards import usb_ports
from harness.boards.sim_board import build_device
from harness.cli import main
from harness.config.board import find_board
from harness.dut.mlperf_device import DutQuirks, build_mlperf_device
from harness.dut.pty_link import served
from harness.models.tflm_host import TflmHostModel
from harness.results.mlperf_record import load_records
from tests.skips import TFLM_IN_QEMU

BOARD = find_board("nucleo_l4r5zi")


def _write(tmp_path: Path, boards: list[dict], monitors: list[dict], modes: dict,
           model: str = "mlperf:ic01_int8.tflite") -> Path:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({
        "name": "mlperf-duts", "boards": boards, "monitors": monitors,
        "models": [{"id": "ic", "path": model}], "modes": modes}, sort_keys=False))
    return path


def _run(bench: Path, tmp_path: Path, mlperf_dir: Path):
    result = CliRunner().invoke(main, ["run", str(bench), "--results-dir",
                                       str(tmp_path / "results"), "--mlperf-dir",
                                       str(mlperf_dir)], catch_exceptions=False)
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    return result, run_dir


def _rows(run_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (run_dir / "results.csv").open(newline="") as fh:
        return {(r["board"], r["metric"]): r for r in csv.DictReader(fh)}


def _outcomes(run_dir: Path) -> dict[str, dict]:
    lines = (run_dir / "jobs.jsonl").read_text().splitlines()
    return {e["job"]: e for e in map(json.loads, lines)}


@pytest.mark.slow
def test_an_mlperf_board_gives_the_rows_of_a_harness_board(tmp_path: Path,
                                                           mlperf_dir: Path) -> None:
    """The same simulated board behind either protocol: the same figures, within the
    board's jitter; energy through the timestamp pin's falling edges at 9600 Bd."""
    boards = [{"id": "l4-mlperf", "board": "nucleo_l4r5zi", "kind": "sim", "protocol": "mlperf"},
              {"id": "l4-harness", "board": "nucleo_l4r5zi", "kind": "sim"}]
    monitors = [{"id": f"mon-{b['id']}", "backend": "sim", "powers": b["id"]} for b in boards]
    bench = _write(tmp_path, boards, monitors, {
        "performance": {"warmups": 1, "runs": 10}, "accuracy": {"samples": 10},
        "energy": {"windows": 3, "inferences_per_window": 3, "idle_s": 0.05}})
    result, run_dir = _run(bench, tmp_path, mlperf_dir)
    assert result.exit_code == 0, result.output
    rows = _rows(run_dir)
    assert {r["protocol"] for (b, _), r in rows.items() if b == "l4-mlperf"} == {"mlperf"}
    assert {r["protocol"] for (b, _), r in rows.items() if b == "l4-harness"} == {"harness"}
    mlperf_ms = float(rows["l4-mlperf", "latency_median"]["value"])
    harness_ms = float(rows["l4-harness", "latency_median"]["value"])
    assert mlperf_ms == pytest.approx(harness_ms, rel=0.03)
    assert rows["l4-mlperf", "latency_median"]["n"] == "5"        # five infer commands
    assert "m-lap-us of 5 infer commands" in rows["l4-mlperf", "latency_median"]["notes"]
    assert rows["l4-mlperf", "host_reference_mismatches"]["value"] == "0.0"
    mlperf_uj = float(rows["l4-mlperf", "energy_per_inference"]["value"])
    harness_uj = float(rows["l4-harness", "energy_per_inference"]["value"])
    # a window also holds the first timestamp pulse: 100 µs against 3 × 0.7 s
    assert mlperf_uj == pytest.approx(harness_uj, rel=0.01)
    assert rows["l4-mlperf", "energy_per_inference"]["n"] == "3"
    assert "ic01" in rows["l4-mlperf", "model_bytes"]["notes"]
    assert (run_dir / "raw" / "l4-mlperf__ic__as-is.cycles.npy").is_file()
    assert len(list((run_dir / "traces").glob("*.npz"))) == 2
    report = (run_dir / "report.md").read_text()
    assert "| Protocol |" in report and "| l4-mlperf | nucleo_l4r5zi | mlperf |" in report
    with sqlite3.connect(tmp_path / "results" / "history.sqlite") as conn:
        got = set(conn.execute("SELECT board, protocol FROM results").fetchall())
    conn.close()
    assert got == {("l4-mlperf", "mlperf"), ("l4-harness", "harness")}
    # the regression gate reads them as any board's: the run against itself passes, with
    # the latency's CI from the per-command figures in raw/
    gate = CliRunner().invoke(main, ["compare", str(run_dir), "--baseline", str(run_dir),
                                     "--json"], catch_exceptions=False)
    assert gate.exit_code == 0, gate.output
    gated = [c for c in json.loads(gate.output)["comparisons"]
             if c["board"] == "l4-mlperf" and c["metric"] == "latency_median"]
    assert gated and not gated[0]["failed"] and gated[0]["baseline"]["ci_low"] is not None


def test_misbehaving_preflashed_duts_fail_clearly_and_the_others_complete(
        tmp_path: Path, mlperf_dir: Path) -> None:
    ic01 = mlperf_dir / "ic01_int8.tflite"
    quirks = {"good": DutQuirks(), "other-model": DutQuirks(model="kws01"),
              "refuses": DutQuirks(refuse="infer"),
              "hangs": DutQuirks(silent_after_db_lines=5),
              "noise": DutQuirks(garbage_from="infer")}
    with ExitStack() as stack:
        ports = {name: stack.enter_context(served(build_mlperf_device(BOARD, ic01, quirks=q)))
                 for name, q in quirks.items()}
        boards = [{"id": name, "board": "nucleo_l4r5zi", "kind": "sim", "protocol": "mlperf",
                   "firmware": "preflashed", "port": port} for name, port in ports.items()]
        bench = _write(tmp_path, boards, [], {"performance": {"warmups": 1, "runs": 2},
                                              "accuracy": {"samples": 2}})
        result, run_dir = _run(bench, tmp_path, mlperf_dir)
    outcomes = _outcomes(run_dir)
    assert outcomes["good/ic/as-is"]["status"] == "done"
    rows = _rows(run_dir)
    assert rows["good", "latency_median"]["n"] == "2"
    assert rows["good", "latency_median"]["source"] == "simulated"
    failed = {job.split("/")[0]: e["message"] for job, e in outcomes.items()
              if e["status"] == "failed"}
    assert set(failed) == {"other-model", "refuses", "hangs", "noise"}
    assert "board other-model: `profile%` reports model 'kws01'" in failed["other-model"]
    assert "'ic01'" in failed["other-model"]
    assert "board refuses: `infer 1 1%` was refused: e-[infer failed]" in failed["refuses"]
    assert "board hangs stopped answering during upload of 3072 bytes" in failed["hangs"]
    assert "cannot reset it" in failed["hangs"]
    assert "no m-ready after `db " in failed["hangs"]
    assert "board noise" in failed["noise"] and "`infer 1 1%`" in failed["noise"]
    assert "not text" in failed["noise"]
    assert not {b for b, _ in rows} - {"good"}      # nothing half-written for the others
    assert result.exit_code != 0


def test_a_preflashed_harness_protocol_board_is_checked_by_its_model_hash(
        tmp_path: Path, mlperf_dir: Path) -> None:
    """Never built or flashed: found on its port, and HELLO's model hash must match."""
    with served(build_device(BOARD, mlperf_dir / "ic01_int8.tflite", None, 0)) as right, \
            served(build_device(BOARD, mlperf_dir / "kws01_int8.tflite", None, 0)) as stale:
        boards = [{"id": "right", "board": "nucleo_l4r5zi", "kind": "sim",
                   "firmware": "preflashed", "port": right},
                  {"id": "stale", "board": "nucleo_l4r5zi", "kind": "sim",
                   "firmware": "preflashed", "port": stale}]
        bench = _write(tmp_path, boards, [], {"performance": {"warmups": 0, "runs": 3}})
        result, run_dir = _run(bench, tmp_path, mlperf_dir)
    outcomes = _outcomes(run_dir)
    assert outcomes["right/ic/as-is"]["status"] == "done"
    assert outcomes["stale/ic/as-is"]["status"] == "failed"
    assert "board reports model hash" in outcomes["stale/ic/as-is"]["message"]
    assert _rows(run_dir)["right", "latency_median"]["protocol"] == "harness"
    assert result.exit_code != 0


@pytest.mark.slow
@TFLM_IN_QEMU[0]
@TFLM_IN_QEMU[1]
def test_the_emulated_board_answers_mlperf_as_it_answers_the_harness(tmp_path: Path,
                                                                     mlperf_dir: Path) -> None:
    """The project's firmware in QEMU speaks both protocols: one image, the same KWS model,
    the same instruction-counted latency either way and outputs equal to the host's."""
    boards = [{"id": "qemu-mlperf", "board": "qemu_mps2_an386", "kind": "qemu",
               "protocol": "mlperf"},
              {"id": "qemu-harness", "board": "qemu_mps2_an386", "kind": "qemu"}]
    bench = _write(tmp_path, boards, [], {"performance": {"warmups": 1, "runs": 5},
                                          "accuracy": {"samples": 3}},
                   model="mlperf:kws01_int8.tflite")
    result, run_dir = _run(bench, tmp_path, mlperf_dir)
    assert result.exit_code == 0, result.output
    rows = {(b, m): r for (b, m), r in _rows(run_dir).items()}
    assert {r["source"] for r in rows.values()} == {"emulated"}
    assert "model kws01" in rows["qemu-mlperf", "model_bytes"]["notes"]
    mlperf_ms = float(rows["qemu-mlperf", "latency_median"]["value"])
    harness_ms = float(rows["qemu-harness", "latency_median"]["value"])
    assert mlperf_ms == pytest.approx(harness_ms, rel=2e-3)    # + the lap prints' instructions
    assert "counts instructions" in rows["qemu-mlperf", "latency_median"]["notes"]
    assert rows["qemu-mlperf", "host_reference_mismatches"]["value"] == "0.0"
    assert rows["qemu-mlperf", "firmware_flash_bytes"]["value"] == \
        rows["qemu-harness", "firmware_flash_bytes"]["value"]       # one image, two protocols


@pytest.mark.slow
def test_realtime_energy_mode_drops_glitches_on_the_timestamp_line(tmp_path: Path,
                                                                   mlperf_dir: Path) -> None:
    """At realtime pace the energy-mode DUT talks at 9600 Bd and its windows lie on the host's
    clock; glitches the monitor picks up between and inside them do not move the figure."""
    boards = [{"id": "l4", "board": "nucleo_l4r5zi", "kind": "sim", "protocol": "mlperf",
               "pace": "realtime"}]
    monitors = [{"id": "mon", "backend": "sim", "powers": "l4", "params": {"glitches": 4}}]
    bench = _write(tmp_path, boards, monitors,
                   {"energy": {"windows": 3, "inferences_per_window": 5, "idle_s": 0.1}},
                   model="mlperf:kws01_int8.tflite")
    result, run_dir = _run(bench, tmp_path, mlperf_dir)
    assert result.exit_code == 0, result.output
    rows = _rows(run_dir)
    energy = rows["l4", "energy_per_inference"]
    assert "dropped as glitches" in energy["notes"]
    # what the simulated board drew: active current x supply x (latency + the first timestamp
    # pulse / 5), the latency being the latency model's for KWS on this board
    from harness.boards.latency_model import estimate
    from harness.models.tflite_inspect import inspect_tflite
    latency_s = estimate(inspect_tflite(mlperf_dir / "kws01_int8.tflite"), BOARD.core,
                         BOARD.build.kernels, BOARD.clock_hz).total_cycles / BOARD.clock_hz
    expected_uj = BOARD.power.active_current_a * BOARD.supply.voltage_v * (
        latency_s + 100e-6 / 5) * 1e6
    assert float(energy["value"]) == pytest.approx(expected_uj, rel=0.02)
    assert not {b for b, _ in rows} - {"l4"} and ("l4", "latency_median") not in rows


def test_a_preflashed_hardware_dut_is_found_by_its_usb_ids(tmp_path: Path,
                                                          mlperf_dir: Path) -> None:
    """``port: auto``: the one USB port with the board's VID:PID and serial number. The DUT
    is the emulated one, plugged into the emulated USB bus (harness/boards/usb_ports.py);
    the harness neither builds nor flashes it, so no PlatformIO is needed."""
    vid, pid = usb_ports.parse_vid_pid(BOARD.serial.usb_vid_pid or "")
    with served(build_mlperf_device(BOARD, mlperf_dir / "ic01_int8.tflite")) as path:
        usb_ports.register(path, vid, pid, "MLPERF-DUT-1")
        try:
            boards = [{"id": "l4", "board": "nucleo_l4r5zi", "protocol": "mlperf",
                       "firmware": "preflashed", "serial_number": "MLPERF-DUT-1"}]
            bench = _write(tmp_path, boards, [], {"performance": {"warmups": 0, "runs": 5}})
            result, run_dir = _run(bench, tmp_path, mlperf_dir)
        finally:
            usb_ports.unregister(path)
    assert result.exit_code == 0, result.output
    rows = _rows(run_dir)
    assert rows["l4", "latency_median"]["protocol"] == "mlperf"
    assert ("l4", "firmware_flash_bytes") not in rows       # nothing was built


@pytest.fixture
def ic_folder(tmp_path: Path, mlperf_dir: Path) -> Path:
    """Six IC01 files (uint8 pixels, as MLCommons' runner sends them), each labelled with
    the TFLM host runtime's top-1 but the last, and their y_labels.csv."""
    host = TflmHostModel.load(mlperf_dir / "ic01_int8.tflite")
    folder = tmp_path / "ic01"
    folder.mkdir()
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        pixels = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
        (folder / f"img_{i}.bin").write_bytes(pixels.tobytes())
        raw = (pixels.astype(np.int16) - 128).astype(np.int8)    # what the DUT runs
        top1 = int(np.argmax(host.run(raw.tobytes())))
        rows.append(f"img_{i}.bin,10,{top1 if i < 5 else (top1 + 1) % 10}")
    (folder / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.mark.slow
def test_the_run_rules_on_an_mlperf_board_give_rows_and_a_submission(
        tmp_path: Path, mlperf_dir: Path, ic_folder: Path) -> None:
    """modes.mlperf on a board speaking MLPerf's protocol: runs timed on its m-lap-us, the
    whole folder scored from its m-results; the same figures as a harness-protocol board
    of the same kind, and a submission the harness writes."""
    bench = tmp_path / "bench.yaml"
    bench.write_text(yaml.safe_dump({
        "name": "mlperf-rules-duts",
        "boards": [{"id": "l4-mlperf", "board": "nucleo_l4r5zi", "kind": "sim",
                    "protocol": "mlperf"},
                   {"id": "l4-harness", "board": "nucleo_l4r5zi", "kind": "sim"}],
        "models": [{"id": "ic", "path": "mlperf:ic01_int8.tflite",
                    "dataset": f"mlperf:{ic_folder}"}],
        "modes": {"mlperf": {}}}, sort_keys=False))
    result, run_dir = _run(bench, tmp_path, mlperf_dir)
    assert result.exit_code == 0, result.output
    rows = _rows(run_dir)
    theirs = rows["l4-mlperf", "mlperf_throughput"]
    ours = rows["l4-harness", "mlperf_throughput"]
    assert theirs["protocol"] == "mlperf" and ours["protocol"] == "harness"
    assert "on the DUT's m-lap-us timer" in theirs["notes"] and theirs["n"] == "5"
    assert "on the board's timer" in ours["notes"]
    assert float(theirs["value"]) == pytest.approx(float(ours["value"]), rel=0.03)
    assert float(rows["l4-mlperf", "mlperf_top1"]["value"]) == pytest.approx(500 / 6)  # 5 of 6
    assert rows["l4-mlperf", "mlperf_top1"]["n"] == "6"
    (record,) = [r for r in load_records(run_dir) if r.board == "l4-mlperf"]
    assert (record.protocol, record.clock_hz) == ("mlperf", 1_000_000)
    assert record.counter.startswith("m-lap-us")
    assert all(w.seconds >= 10 for w in record.performance)
    assert record.accuracy is not None and record.accuracy.host_mismatches == 0

    out = tmp_path / "submission"
    done = CliRunner().invoke(main, ["submission", str(run_dir), "--out", str(out),
                                     "--submitter", "Lab", "--allow-unmeasured"])
    assert done.exit_code == 0, done.output
    results = out / "closed" / "Lab" / "results"
    systems = sorted(p.name for p in results.iterdir())
    assert len(systems) == 2, systems
    (mine,) = [s for s in systems if s.endswith("l4-mlperf")]
    log = (results / mine / "ic" / "performance" / "log.txt").read_text()
    assert "protocol mlperf, timer m-lap-us" in log
