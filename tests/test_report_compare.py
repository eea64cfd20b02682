"""The regression gate: thresholds, noise-awareness, missing figures, JUnit, and the history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from junitparser import Error, Failure, JUnitXml

from harness.cli import main
from harness.config.bench import Thresholds
from harness.errors import ExitCode
from harness.report.baseline import load_figures, quantile_ci
from harness.report.compare import compare
from harness.report.junit import write_junit
from harness.report.pareto import pareto_front
from harness.results.history import SCHEMA_VERSION, History, HistoryError
from harness.results.rows import RowContext
from harness.results.store import RunStore


def _run_dir(root: Path, name: str, figures: dict[str, tuple], started: str = "2026-01-01"
             ) -> Path:
    """A run directory written by the real RunStore: metric -> (value, unit, ci or None)."""
    store = RunStore(root / name)
    store.create({"run_id": name, "bench": "gate", "bench_file": "", "started": started,
                  "harness_version": "0", "git_commit": ""})
    ctx = RowContext(name, "0", "", "gate", "b1", "nucleo_l4r5zi", "sim", "simulated", "m1",
                     "as-is")
    store.append_job("b1/m1/as-is", [ctx.row("x", metric, value, unit, time=started, ci=ci)
                                     for metric, (value, unit, ci) in figures.items()])
    return store.run_dir


BASE = {"latency_median": (10.0, "ms", None), "energy_per_inference": (100.0, "uJ", (99, 101)),
        "top1": (90.0, "%", None), "arena_bytes": (2000.0, "B", None)}


def _statuses(tmp_path, current: dict, thresholds: Thresholds | None = None) -> dict[str, str]:
    base = _run_dir(tmp_path, "base", BASE)
    cur = _run_dir(tmp_path, "cur", current)
    return {c.key[3]: c.status for c in compare(load_figures(cur), load_figures(base),
                                                thresholds or Thresholds())}


def test_change_beyond_threshold_and_noise_is_a_regression(tmp_path):
    status = _statuses(tmp_path, {**BASE, "latency_median": (10.6, "ms", None),
                                  "energy_per_inference": (106.0, "uJ", (105, 107)),
                                  "top1": (88.5, "%", None)})
    assert status == {"latency_median": "regression", "energy_per_inference": "regression",
                      "top1": "regression", "arena_bytes": "info"}


def test_change_inside_the_combined_ci_is_not_a_regression(tmp_path):
    # +6 % is over the 5 % threshold, but the CIs (±1 and ±6.5) combine to ±6.58 uJ
    status = _statuses(tmp_path, {**BASE, "energy_per_inference": (106.0, "uJ", (99.5, 112.5)),
                                  "latency_median": (10.4, "ms", None)})
    assert status["energy_per_inference"] == "within noise"
    assert status["latency_median"] == "ok"


def test_improvements_and_thresholds_from_options(tmp_path):
    status = _statuses(tmp_path, {**BASE, "latency_median": (8.0, "ms", None),
                                  "energy_per_inference": (102.5, "uJ", (102.4, 102.6))},
                       Thresholds(energy_pct=2.0))
    assert status["latency_median"] == "improved"
    assert status["energy_per_inference"] == "regression"


def test_missing_metric_is_reported_and_fails(tmp_path):
    current = {k: v for k, v in BASE.items() if k != "top1"}
    status = _statuses(tmp_path, current)
    assert status["top1"] == "missing"


def test_latency_ci_from_the_raw_cycles(tmp_path):
    run = _run_dir(tmp_path, "r", {"latency_median": (1.0, "ms", None)})
    cycles = np.random.default_rng(0).normal(120_000, 600, 51).astype(np.int64)
    (run / "raw").mkdir()
    np.save(run / "raw" / "b1__m1__as-is.cycles.npy", cycles)
    fig = load_figures(run)["b1", "m1", "as-is", "latency_median"]
    assert fig.ci is not None and fig.ci[0] < 1.0 < fig.ci[1]
    lo, hi = quantile_ci(cycles.astype(float), 0.5, 0.95)
    assert lo < np.median(cycles) < hi


def test_compare_cli_exits_4_on_regression_and_writes_junit(tmp_path):
    base = _run_dir(tmp_path, "base", BASE)
    cur = _run_dir(tmp_path, "cur", {**BASE, "latency_median": (11.0, "ms", None)})
    junit = tmp_path / "junit.xml"
    result = CliRunner().invoke(main, ["compare", str(cur), "--baseline",
                                       str(base / "results.csv"), "--junit", str(junit)])
    assert result.exit_code == ExitCode.REGRESSION, result.output
    assert "regression" in result.output and "b1/m1/as-is" in result.output
    ok = CliRunner().invoke(main, ["compare", str(cur), "--baseline", str(base),
                                   "--latency-pct", "15"])
    assert ok.exit_code == 0, ok.output
    xml = JUnitXml.fromfile(str(junit))
    (suite,) = list(xml)
    cases = {case.name: case for case in suite}
    assert set(cases) == {f"b1/m1/as-is/{m}" for m in BASE}
    assert suite.tests == 4 and suite.failures == 1 and xml.failures == 1
    failure = cases["b1/m1/as-is/latency_median"].result[0]
    assert isinstance(failure, Failure)
    assert "+10.00 %" in failure.message and "threshold +5 %" in failure.message
    assert cases["b1/m1/as-is/top1"].is_passed


def test_junit_structure_with_a_failed_job(tmp_path):
    run = _run_dir(tmp_path, "r", BASE)
    path = tmp_path / "j.xml"
    write_junit(path, "r", "gate", compare(load_figures(run), {}, Thresholds()),
                {"b2/m1/as-is": "board did not answer"}, {"b1/m2/as-is": "m2.tflite not found"})
    root = JUnitXml.fromfile(str(path))
    assert root._tag == "testsuites"
    (suite,) = list(root)
    assert suite._tag == "testsuite" and suite.tests == 6 and suite.errors == 1
    assert suite.skipped == 1 and suite.failures == 0
    errors = [c for c in suite if c.result and isinstance(c.result[0], Error)]
    assert [c.name for c in errors] == ["b2/m1/as-is/run"]
    assert all(c.classname.startswith("harness.gate.") for c in suite)
    assert all("no baseline" in c.system_out for c in suite if not c.result)
    assert [c.name for c in suite if c.is_skipped] == ["b1/m2/as-is/run"]


def test_history_records_runs_once_and_gives_a_trend(tmp_path):
    db = History(tmp_path / "h.sqlite")
    for i, energy in enumerate((100.0, 103.0, 98.0)):
        run = _run_dir(tmp_path, f"run{i}", {**BASE, "energy_per_inference":
                                             (energy, "uJ", (energy - 1, energy + 1))},
                       started=f"2026-01-0{i + 1}")
        db.record(RunStore(run))
    db.record(RunStore(tmp_path / "run2"))   # again: replaced, not duplicated
    assert [r.run_id for r in db.runs()] == ["run2", "run1", "run0"]
    assert db.runs()[0].rows == len(BASE)
    trend = db.trend("energy_per_inference", board="b1", model="m1")
    assert [p.value for p in trend] == [100.0, 103.0, 98.0]
    assert trend[0].ci_low == 99.0 and trend[0].source == "simulated"
    assert [p.run_id for p in db.trend("energy_per_inference", limit=2)] == ["run1", "run2"]
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="schema version 99"):
        db.runs()


def test_history_cli_lists_runs_and_trend(tmp_path):
    db = History(tmp_path / "h.sqlite")
    for i in range(2):
        db.record(RunStore(_run_dir(tmp_path, f"run{i}", BASE, started=f"2026-01-0{i + 1}")))
    listing = CliRunner().invoke(main, ["history", "--history", str(db.path)])
    assert listing.exit_code == 0 and "run0" in listing.output and "run1" in listing.output
    trend = CliRunner().invoke(main, ["history", "--history", str(db.path), "--metric",
                                      "energy_per_inference", "--board", "b1", "--model", "m1"])
    assert trend.exit_code == 0, trend.output
    assert "+0.00 %" in trend.output and "simulated" in trend.output


@pytest.mark.parametrize(("points", "front"), [
    ([(1, 90), (2, 95), (3, 94), (0.5, 80)], [3, 0, 1]),
    ([(1, 90), (1, 90)], [0]),
    ([(5, 99), (1, 50), (2, 50)], [1, 0]),
])
def test_pareto_front(points, front):
    assert pareto_front(points) == front
