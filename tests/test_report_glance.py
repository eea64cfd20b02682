"""The report's one-screen summary and results.json, on run folders written by the real RunStore:
picks within noise, accuracy cost, failed and partial jobs, board recoveries, the baseline."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

from click.testing import CliRunner

from harness.cli import main
from harness.measure.recoveries import TOTALS
from harness.report.build import write_reports
from harness.report.content import gather
from harness.report.glance import RECOVERIES
from harness.results.results_json import RESULTS_JSON
from harness.results.rows import COLUMNS, RowContext, caveat
from harness.results.store import RunStore

# variant -> (latency ms, energy uJ, energy CI half-width, top-1 %)
VARIANTS = {"fp32": (6.7, 280.0, 0.2, 94.0), "int8": (1.5, 62.3, 0.1, 94.0),
            "distilled-int8": (0.52, 21.7, 0.1, 93.0), "hybrid-int8": (0.52, 21.8, 0.1, 93.5),
            "pruned-int8": (0.50, 30.0, 0.1, 90.0)}


def _store(root: Path, name: str, scale: float = 1.0, variants: dict | None = None,
           recoveries: dict[str, dict[str, int]] | None = None) -> RunStore:
    """One board, one model; figures x ``scale``; ``recoveries``: variant -> counter -> n."""
    store = RunStore(root / name)
    store.create({"run_id": name, "bench": "glance", "bench_file": "", "started": "2026-01-01",
                  "harness_version": "0", "git_commit": ""})
    for variant, (ms, uj, half, top1) in (variants or VARIANTS).items():
        ctx = RowContext(name, "0", "", "glance", "l4", "nucleo_l4r5zi", "sim", "simulated",
                         "cnn", variant)
        counts = (recoveries or {}).get(variant, {})
        note = caveat("survived 2 × board reset") if counts else ""
        rows = [ctx.row("performance", "latency_median", ms * scale, "ms", time="t", n=20,
                        notes=note),
                ctx.row("energy", "energy_per_inference", uj * scale, "uJ", time="t",
                        ci=(uj * scale - half, uj * scale + half)),
                ctx.row("accuracy", "top1", top1, "%", time="t")]
        rows += [ctx.row("info", metric, counts.get(metric, 0), "events", time="t")
                 for metric in RECOVERIES]
        store.append_job(f"l4/cnn/{variant}", rows)
    return store


def test_the_report_and_the_run_count_the_same_recovery_events():
    assert set(RECOVERIES) == set(TOTALS)


def test_lowest_variant_allows_for_noise_and_names_its_accuracy_cost(tmp_path):
    (row,) = gather(_store(tmp_path, "run")).glance.rows
    assert (row.board, row.model, row.jobs) == ("l4", "cnn", {"done": 5})
    assert row.reference is not None and row.reference.variant == "fp32"
    energy = row.energy
    assert energy is not None
    # hybrid-int8 is within 1 % of distilled-int8 and more accurate: it is named
    assert (energy.variant, energy.near) == ("hybrid-int8", ("distilled-int8",))
    assert math.isclose(energy.saved_pct or 0, (280.0 - 21.8) / 280.0 * 100)
    assert energy.accuracy_change == -0.5
    assert energy.detail == "−92 % vs fp32, accuracy −0.5 points"
    latency = row.latency
    assert latency is not None
    # 0.50 ms is lowest; 0.52 ms is 4 % above it, outside the 1 % allowance
    assert (latency.variant, latency.near, latency.accuracy_change) == ("pruned-int8", (), -4.0)
    assert row.reference_text == "fp32: 280 µJ, 6.7 ms, 94.0 % top-1"
    assert row.recoveries == {} and row.regressions is None


def test_failed_and_partial_jobs_and_recoveries_are_on_top(tmp_path):
    store = _store(tmp_path, "run", variants={"fp32": VARIANTS["fp32"]},
                   recoveries={"fp32": {"board_resets": 2, "command_resends": 3}})
    ctx = RowContext("run", "0", "", "glance", "l4", "nucleo_l4r5zi", "sim", "simulated", "cnn",
                     "int8")
    store.append_job("l4/cnn/int8", [ctx.row("performance", "latency_median", 1.5, "ms",
                                             time="t")],
                     status="partial", message="energy: monitor lost <sim-monitor>")
    store.record_outcome("l4/cnn/int16x8", "failed", "board did not answer PING")
    store.record_outcome("l4/kws/as-is", "skipped", "kws.tflite not found")
    files = write_reports(store)
    glance = gather(store).glance
    assert glance.jobs == {"done": 1, "partial": 1, "failed": 1, "skipped": 1}
    assert [(p.job, p.status, p.modes) for p in glance.problems] == [
        ("l4/cnn/int8", "partial", ("performance",)), ("l4/cnn/int16x8", "failed", ())]
    assert glance.recoveries == [("l4/cnn/fp32", {"board_resets": 2, "command_resends": 3})]
    assert glance.recoveries_total == "2 board resets, 3 resent commands"
    html = files.html.read_text()
    top = html[html.index('id="glance"'):html.index('id="tradeoffs"')]
    assert "1 done, 1 partial, 1 failed, 1 skipped" in top
    assert re.search(r'<div class="alert bad" id="glance-problems"><strong>2 jobs did not '
                     r'complete</strong>', top)
    assert "(kept rows of: performance): energy: monitor lost &lt;sim-monitor&gt;" in top
    assert "l4/cnn/int16x8</code> <b>failed</b>" in top
    assert "<code>l4/cnn/fp32</code>: 2 board resets, 3 resent commands" in top
    assert "survived 2 × board reset (l4/cnn/fp32)" in top      # the caveat, numbered
    md = files.markdown.read_text()
    assert "Jobs: **1 done, 1 partial, 1 failed, 1 skipped**." in md
    assert "Board recoveries: **2 board resets, 3 resent commands** in `l4/cnn/fp32`." in md
    assert "- `l4/cnn/int16x8` **failed**: board did not answer PING" in md


def test_report_baseline_names_the_regressions_on_top_and_keeps_gate_json(tmp_path):
    base = _store(tmp_path, "base")
    slower = _store(tmp_path, "slower", scale=1.2)
    result = CliRunner().invoke(main, ["report", str(slower.run_dir), "--baseline",
                                       str(base.run_dir)])
    assert result.exit_code == 0, result.output
    gate = json.loads((slower.run_dir / "gate.json").read_text())
    failing = {(c["variant"], c["metric"]) for c in gate["comparisons"] if c["failed"]}
    assert failing == {(v, m) for v in VARIANTS for m in ("latency_median",
                                                          "energy_per_inference")}
    html = (slower.run_dir / "report.html").read_text()
    top = html[html.index('id="glance"'):html.index('id="tradeoffs"')]
    assert f"10 of {gate['gated']} gated figures failed against the baseline" in top
    assert "<b class=\"problem\">10 failed</b>" in top
    # rebuilt without --baseline: the run's gate is still shown
    assert CliRunner().invoke(main, ["report", str(slower.run_dir)]).exit_code == 0
    assert "gated figures failed" in (slower.run_dir / "report.html").read_text()
    same = _store(tmp_path, "same")
    assert CliRunner().invoke(main, ["report", str(same.run_dir), "--baseline",
                                     str(base.run_dir)]).exit_code == 0
    assert "No regression against the baseline" in (same.run_dir / "report.html").read_text()


def test_results_json_has_the_csv_rows_typed_with_run_and_jobs(tmp_path):
    store = _store(tmp_path, "run", variants={"fp32": VARIANTS["fp32"]})
    store.record_outcome("l4/cnn/int8", "failed", "no READY")
    with store.csv_path.open("a", newline="") as fh:   # a figure that is not a number
        csv.writer(fh, lineterminator="\n").writerow(
            ["run", "t", "0", "", "glance", "l4", "nucleo_l4r5zi", "sim", "simulated",
             "harness", "cnn", "fp32", "energy", "idle_power", "nan", "mW", "", "", "", ""])
    write_reports(store)
    document = json.loads((store.run_dir / RESULTS_JSON).read_text())
    assert document["schema_version"] == 1 and document["run"]["run_id"] == "run"
    assert document["jobs"] == [{"job": "l4/cnn/fp32", "status": "done", "message": ""},
                                {"job": "l4/cnn/int8", "status": "failed", "message": "no READY"}]
    rows = document["rows"]
    assert len(rows) == len(store.read_rows()) and all(list(r) == list(COLUMNS) for r in rows)
    latency = next(r for r in rows if r["metric"] == "latency_median")
    assert latency["value"] == 6.7 and latency["n"] == 20 and latency["ci_low"] is None
    energy = next(r for r in rows if r["metric"] == "energy_per_inference")
    assert (energy["ci_low"], energy["ci_high"]) == (279.8, 280.2)
    assert energy["source"] == "simulated" and energy["protocol"] == "harness"
    assert rows[-1]["metric"] == "idle_power" and rows[-1]["value"] is None
