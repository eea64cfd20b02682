"""`--json` on boards, monitors, check, history and compare: stdout is one JSON document
(docs/json.md) a program can parse, with the exit codes the tables have."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from tiny_tflite import dense_float_model

from harness.cli import main
from harness.config.board import all_boards
from harness.errors import ExitCode
from harness.results.history import History
from harness.results.rows import RowContext
from harness.results.store import RunStore


def _json(args: list[str], exit_code: int = 0) -> dict:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == exit_code, result.output
    return json.loads(result.stdout)


def test_boards_json_has_every_board_file_with_its_keys():
    document = _json(["boards", "--json"])
    boards = {b["id"]: b for b in document["boards"]}
    assert set(boards) == {b.id for b in all_boards()}
    l4 = boards["nucleo_l4r5zi"]
    assert l4["clock_hz"] == 120_000_000 and l4["core"] == "cortex-m4f"
    assert l4["memory"]["ram_bytes"] > 0 and l4["build"]["kernels"] == "cmsis-nn"


def test_monitors_json_lists_a_connected_instrument(monkeypatch):
    pytest.importorskip("pyvisa_py")
    from tests.instruments.scpi_server import IDN, ScpiServer
    from tests.instruments.waveform import Waveform

    with ScpiServer("n6705c", Waveform()) as server:
        monkeypatch.setenv("HARNESS_VISA_BACKEND", "@py")
        monkeypatch.setenv("HARNESS_VISA_RESOURCES", server.resource)
        document = _json(["monitors", "--json"])
    (found,) = [m for m in document["monitors"] if m["resource"] == server.resource]
    assert found["backend"] == "scpi-n6705c"
    assert IDN["n6705c"].split(",")[1] in found["description"]
    assert all(set(p) == {"backend", "problem"} for p in document["problems"])


def _bench(tmp_path: Path, name: str, **changes) -> Path:
    rng = np.random.default_rng(0)
    dense_float_model(tmp_path / "m.tflite", rng.normal(size=(3, 4)).astype(np.float32),
                      np.zeros(3, np.float32))
    data = {"name": "t", "boards": [{"id": "nano", "board": "nano33ble", "kind": "sim"}],
            "models": [{"id": "m", "path": "m.tflite"}],
            "modes": {"performance": {"warmups": 0, "runs": 2}}} | changes
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_check_json_answers_for_every_file_and_exits_2_on_an_error(tmp_path):
    good = _bench(tmp_path, "good.yaml")
    bad_param = _bench(tmp_path, "param.yaml", monitors=[
        {"id": "mon", "backend": "sim", "powers": "nano", "params": {"sede": 1}}])
    bad_key = _bench(tmp_path, "key.yaml", colour="red")
    document = _json(["check", "--json", str(good), str(bad_param), str(bad_key)],
                     exit_code=ExitCode.CONFIG)
    assert document["ok"] is False
    by_file = {b["file"]: b for b in document["benches"]}
    assert by_file[str(good)] | {"findings": []} == {
        "file": str(good), "ok": True, "errors": 0, "warnings": 0, "findings": [],
        "counts": {"boards": 1, "monitors": 0, "models": 1, "variants": 1}}
    (error,) = [f for f in by_file[str(bad_param)]["findings"] if f["level"] == "error"]
    assert error["path"] == str(bad_param) and error["field"] == "monitors[0].params.sede"
    assert "unknown key" in error["message"]
    assert by_file[str(bad_key)]["counts"] is None
    (error,) = by_file[str(bad_key)]["findings"]
    assert (error["level"], error["field"]) == ("error", "colour")
    assert _json(["check", "--json", str(good)])["ok"] is True


def _run(root: Path, name: str, started: str, latency_ms: float) -> RunStore:
    store = RunStore(root / name)
    store.create({"run_id": name, "bench": "b", "bench_file": "", "started": started,
                  "harness_version": "0", "git_commit": ""})
    ctx = RowContext(name, "0", "", "b", "l4", "nucleo_l4r5zi", "sim", "simulated", "m", "int8")
    store.append_job("l4/m/int8", [
        ctx.row("performance", "latency_median", latency_ms, "ms", time=started),
        ctx.row("energy", "energy_per_inference", 60.0, "uJ", time=started, ci=(59.5, 60.5))])
    return store


def test_history_and_compare_json(tmp_path):
    db = History(tmp_path / "history.sqlite")
    runs = [_run(tmp_path, f"run{i}", f"2026-01-0{i + 1}", ms)
            for i, ms in enumerate((1.50, 1.80))]
    for store in runs:
        db.record(store)
    listing = _json(["history", "--history", str(db.path), "--json"])
    assert [(r["run_id"], r["jobs_done"], r["rows"]) for r in listing["runs"]] == [
        ("run1", 1, 2), ("run0", 1, 2)]
    trend = _json(["history", "--history", str(db.path), "--json", "--metric",
                   "latency_median"])
    assert trend["metric"] == "latency_median"
    assert [(p["run_id"], p["value"], p["source"]) for p in trend["points"]] == [
        ("run0", 1.5, "simulated"), ("run1", 1.8, "simulated")]
    assert trend["points"][0]["change_pct"] is None
    assert trend["points"][1]["change_pct"] == pytest.approx(20.0)

    compared = _json(["compare", str(runs[1].run_dir), "--baseline", str(runs[0].run_dir),
                      "--json"], exit_code=ExitCode.REGRESSION)
    assert compared["regressed"] is True and compared["failed"] == 1 and compared["gated"] == 2
    assert compared["thresholds"] == {"latency_pct": 5.0, "energy_pct": 5.0,
                                      "accuracy_points": 1.0}
    by_metric = {c["metric"]: c for c in compared["comparisons"]}
    latency = by_metric["latency_median"]
    assert (latency["status"], latency["failed"], latency["threshold"]) == (
        "regression", True, "+5 %")
    assert latency["baseline"]["value"] == 1.5 and latency["current"]["value"] == 1.8
    assert latency["change_pct"] == pytest.approx(20.0)
    energy = by_metric["energy_per_inference"]
    assert energy["status"] == "ok" and energy["current"]["ci_low"] == 59.5
    relaxed = _json(["compare", str(runs[1].run_dir), "--baseline", str(runs[0].run_dir),
                     "--json", "--latency-pct", "25"])
    assert relaxed["regressed"] is False
