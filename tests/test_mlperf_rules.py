"""MLPerf Tiny's run rules (modes.mlperf, `harness run --mlperf`) and `harness submission`.

A simulated NUCLEO-L4R5ZI at instant pace runs two small float models, an
image-classification-like one and an anomaly-detection autoencoder, on small
MLPerf-style dataset folders (ic01, ad01): 10 s runs cost board time only.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score
from tiny_tflite import dense_float_model, ic_like_model_and_folder

from harness.boards.latency_model import estimate
from harness.cli import main
from harness.config.bench import MlperfMode, load_bench, with_mlperf_rules
from harness.config.board import find_board
from harness.dut.messages import InferResult
from harness.errors import ConfigError, HarnessError, MeasurementError
from harness.measure.mlperf_rules import (
    MAX_COMMAND_S,
    MAX_RUNS_PER_INFER,
    RuleInput,
    RunLog,
    measure_throughput,
    plan_run,
)
from harness.models.mlperf_benchmarks import mlperf_benchmark
from harness.models.tflite_inspect import inspect_tflite
from harness.results.mlperf_record import load_records
from harness.submission.writer import SubmissionOptions, write_submission

IC_FILES, IC_MISLABELLED = 20, (6, 13)     # 18 of 20 right: 90 % top-1
AD_FILES = 8
ACTIVE_A, SUPPLY_V = 0.0126, 3.3           # boards/nucleo_l4r5zi.yaml power model
# what MLCommons' submission checker reads from results.txt (tools/submission/)
PERF_LINE = re.compile(r".* Median throughput is\s+([\d\.]+) inf\./sec\..*")
TOP1_LINE = re.compile(r".* Top[- ]1%?\s?[:=] ([\d\.]+).*")
AUC_LINE = re.compile(r".* AUC\s?[:=] ([\d\.]+).*")
ENERGY_LINE = re.compile(r"Median energy cost is ([\d\.]+) uJ/inf")


# --- the rules' arithmetic -------------------------------------------------------------

@pytest.mark.parametrize("per_inference_s", [20e-6, 0.7, 3.0])
def test_a_run_meets_both_length_rules_in_commands_a_board_can_take(per_inference_s):
    rules = MlperfMode()
    plan = plan_run(per_inference_s, rules)
    assert plan.inferences >= rules.min_inferences
    assert plan.inferences * per_inference_s >= rules.min_duration_s
    # and no longer than it must be: less than one inference per INFER over 5 % more
    assert (plan.inferences - plan.commands) * per_inference_s < rules.min_duration_s * 1.05 \
        or plan.inferences == rules.min_inferences
    assert plan.per_command <= MAX_RUNS_PER_INFER
    assert plan.per_command * per_inference_s <= MAX_COMMAND_S or plan.per_command == 1


def test_the_numbers_a_run_is_sent_as():
    fast = plan_run(20e-6, MlperfMode())      # 525,000 inferences: over 9 INFERs
    assert (fast.commands, fast.per_command) == (9, 58334)
    slow = plan_run(3.0, MlperfMode())        # 10 inferences (the count rule), 30 s: 2 INFERs
    assert (slow.commands, slow.per_command) == (2, 5)


class _WarmingBoard:
    """A board whose inferences get faster once it is warm, as caches make real ones:
    the first 100 take 2 ms each on its timer, every later one 1 ms."""

    def __init__(self) -> None:
        self.done = 0
        self.uploads = 0

    def upload(self, data: bytes) -> None:
        self.uploads += 1

    def infer(self, warmups: int = 0, runs: int = 1, per_run: bool = True,
              want_output: bool = True, timeout: float | None = None) -> InferResult:
        slow = max(0, min(runs, 100 - self.done - warmups))
        self.done += warmups + runs
        cycles = (slow * 2_000 + (runs - slow) * 1_000) * 1_000   # a 1 GHz timer
        return InferResult(runs, cycles, None, b"\x00" if want_output else None, 1)


def test_a_run_that_comes_out_short_is_sent_again_longer():
    board, log = _WarmingBoard(), RunLog()
    windows = measure_throughput(board, [RuleInput(f"f{i}.bin", 0, b"\x01") for i in range(5)],
                                 1_000_000_000, MlperfMode(), 0.01, log, lambda raw: [0.0])
    assert board.uploads == 5
    # the pilot saw 2 ms; 5,250 runs of the warm 1 ms were 5.25 s: sent again, then 10.5 s
    first = windows[0]
    assert first.inferences == 10_500 and first.seconds == pytest.approx(10.5)
    assert all(w.seconds >= 10 and w.throughput == pytest.approx(1000) for w in windows)
    assert any("below 10 s: sent again, longer" in line for line in log.phases["performance"])


def test_too_few_inputs_for_the_rules_is_an_error(tmp_path, ic_data):
    from harness.measure.mlperf_rules import rule_inputs
    from harness.models.datasets import load_dataset
    from harness.tensors import TensorSpec

    data = load_dataset(f"mlperf:{ic_data / 'ic01'}")
    with pytest.raises(MeasurementError, match="need 21 different inputs; dataset 'ic01' has 20"):
        rule_inputs(data, TensorSpec("float32", (1, 16)), dict.fromkeys(range(20), "f"), 21)


def test_benchmarks_are_known_by_their_mlperf_names():
    assert mlperf_benchmark("mlperf:ic01_int8.tflite", "generated") == "ic"
    assert mlperf_benchmark("m.tflite", "mlperf:data/kws01#int8") == "kws"
    assert mlperf_benchmark("mlperf:ic01_int8.tflite", "mlperf:vww01/") == "vww"
    assert mlperf_benchmark("builtin:digits", "digits") is None
    assert mlperf_benchmark("ad.tflite", "npz:ad01.npz") is None


def test_bench_files_take_the_rule_mode_and_run_mlperf_turns_it_on(tmp_path):
    path = tmp_path / "bench.yaml"
    base = {"name": "b", "boards": [{"id": "b", "board": "nucleo_l4r5zi", "kind": "sim"}],
            "models": [{"id": "m", "path": "m.tflite"}]}
    path.write_text(yaml.safe_dump({**base, "modes": {"mlperf": {}}}))
    assert load_bench(path).spec.modes.mlperf == MlperfMode()
    path.write_text(yaml.safe_dump({**base, "modes": {"performance": {}}}))
    on = with_mlperf_rules(load_bench(path)).spec.modes
    assert on.mlperf == MlperfMode() and on.performance is not None
    path.write_text(yaml.safe_dump({**base, "modes": {"mlperf": {"inputs": 0}}}))
    with pytest.raises(ConfigError, match=r"modes\.mlperf\.inputs"):
        load_bench(path)
    # a board speaking MLPerf's text protocol takes the rules (throughput and accuracy on
    # its performance-mode firmware); their energy runs are not measured on it, so a
    # monitor powering it is refused by name, from the file and from --mlperf alike
    text = {**base, "boards": [{**base["boards"][0], "protocol": "mlperf"}]}
    path.write_text(yaml.safe_dump({**text, "modes": {"mlperf": {}}}))
    assert load_bench(path).spec.modes.mlperf == MlperfMode()
    monitored = {**text, "monitors": [{"id": "mon", "backend": "sim", "powers": "b"}]}
    path.write_text(yaml.safe_dump({**monitored, "modes": {"mlperf": {}}}))
    with pytest.raises(ConfigError, match=r"boards\[0\]\.protocol: modes\.mlperf on a board "
                       r"speaking MLPerf's text protocol.*energy"):
        load_bench(path)
    path.write_text(yaml.safe_dump({**monitored, "modes": {"performance": {}}}))
    with pytest.raises(ConfigError, match=r"bench\.yaml:boards\[0\]\.protocol"):
        with_mlperf_rules(load_bench(path))


# --- a run on a simulated board ----------------------------------------------------------

@pytest.fixture(scope="module")
def ic_data(tmp_path_factory) -> Path:
    """An IC-like model (logit c = feature c) and 20 uint8 files, two labelled wrong."""
    root = tmp_path_factory.mktemp("mlperf-data")
    ic_like_model_and_folder(root, IC_FILES, IC_MISLABELLED)
    # AD: an "autoencoder" that reconstructs zeros, so a window's score is its mean square.
    # Normal files are quiet but for one loud window; anomalous ones are moderately loud
    # throughout: window by window the classes overlap, file by file they do not.
    dense_float_model(root / "ad.tflite", np.zeros((8, 8), np.float32), np.zeros(8, np.float32))
    folder = root / "ad01"
    folder.mkdir()
    rows = []
    for i in range(AD_FILES):
        anomalous = i % 2
        windows = [0.6] * 4 if anomalous else [0.1, 0.1, 0.1, 0.9]
        values = np.repeat(np.asarray(windows, "<f4"), 8)
        (folder / f"sound_{i}.bin").write_bytes(values.tobytes())
        rows.append(f"sound_{i}.bin,2,{anomalous},32,32")
    (folder / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def rule_run(ic_data, tmp_path_factory) -> Path:
    """`harness run --mlperf` on a bench whose own modes are performance and accuracy."""
    bench = {
        "name": "mlperf-rules",
        "boards": [{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"}],
        "monitors": [{"id": "mon", "backend": "sim", "powers": "l4r5zi",
                      "sample_rate": 20000}],
        "models": [{"id": "ic-tiny", "path": "ic.tflite", "dataset": "mlperf:ic01"},
                   {"id": "ad-tiny", "path": "ad.tflite", "dataset": "mlperf:ad01",
                    "task": "anomaly"}],
        "modes": {"performance": {"warmups": 0, "runs": 5}, "accuracy": {"samples": 100}},
    }
    path = ic_data / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    results = tmp_path_factory.mktemp("results")
    result = CliRunner().invoke(main, ["run", str(path), "--mlperf", "--results-dir",
                                       str(results)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def _rows(run_dir: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (run_dir / "results.csv").open(newline="") as fh:
        return {(r["model"], r["metric"]): r for r in csv.DictReader(fh)}


def _records(run_dir: Path):
    return {r.model: r for r in load_records(run_dir)}


@pytest.mark.slow
def test_runs_last_the_rules_length_on_five_different_inputs(rule_run, ic_data):
    board = find_board("nucleo_l4r5zi")
    cycles = estimate(inspect_tflite(ic_data / "ic.tflite"), board.core, board.build.kernels,
                      board.clock_hz).total_cycles
    per_inference = cycles / board.clock_hz            # what the latency model gives
    record = _records(rule_run)["ic-tiny"]
    files = [w.file for w in record.performance]
    assert files == [f"img_{i:03d}.bin" for i in range(5)]       # y_labels.csv order
    assert len({tuple(w.outputs) for w in record.performance}) == 5  # five inputs, not one
    for w in record.performance:
        assert 10 <= w.seconds < 10 * 1.06 and w.inferences >= 10
        # chosen from the time per inference: 10.5 s worth, in INFERs of at most 65,535
        assert w.inferences == pytest.approx(10.5 / per_inference, rel=0.01)
        assert w.commands == -(-w.inferences // MAX_RUNS_PER_INFER) and w.commands > 1
    rows = _rows(rule_run)
    throughput = rows["ic-tiny", "mlperf_throughput"]
    assert throughput["mode"] == "mlperf" and throughput["n"] == "5"
    assert throughput["source"] == "simulated" and "MLPerf Tiny run rules" in throughput["notes"]
    assert float(throughput["value"]) == pytest.approx(np.median(
        [w.inferences / w.seconds for w in record.performance]))
    assert float(throughput["value"]) == pytest.approx(1 / per_inference, rel=0.01)
    # the harness's own latency figure agrees with it
    latency_ms = float(rows["ic-tiny", "latency_median"]["value"])
    assert float(throughput["value"]) == pytest.approx(1e3 / latency_ms, rel=0.01)


@pytest.mark.slow
def test_accuracy_is_scored_on_the_whole_dataset(rule_run):
    rows = _rows(rule_run)
    top1 = rows["ic-tiny", "mlperf_top1"]
    assert float(top1["value"]) == 90.0 and top1["n"] == "20"
    assert "whole dataset (20 files, no held-out split)" in top1["notes"]
    # the harness's own accuracy mode scores the held-out quarter only
    assert rows["ic-tiny", "top1"]["n"] == "5"
    record = _records(rule_run)["ic-tiny"]
    assert record.accuracy is not None and record.accuracy.host_mismatches == 0
    assert [f.file for f in record.accuracy.files] == [f"img_{i:03d}.bin"
                                                      for i in range(IC_FILES)]


@pytest.mark.slow
def test_anomaly_detection_is_scored_per_file(rule_run):
    auc = _rows(rule_run)["ad-tiny", "mlperf_auc"]
    assert float(auc["value"]) == 1.0 and auc["n"] == str(AD_FILES)
    files = _records(rule_run)["ad-tiny"].accuracy.files
    assert all(len(f.results) == 4 for f in files)      # every window of every file
    scores = [s[0] for f in files for s in f.results]
    labels = [f.label for f in files for _ in f.results]
    assert roc_auc_score(labels, scores) < 0.9           # window by window they overlap
    ad = _records(rule_run)["ad-tiny"]
    assert [w.file for w in ad.performance] == [f"sound_{i}.bin" for i in range(5)]


@pytest.mark.slow
def test_energy_is_the_median_of_five_runs_as_long_as_the_performance_ones(rule_run):
    rows = _rows(rule_run)
    record = _records(rule_run)["ic-tiny"]
    assert record.energy is not None and len(record.energy) == 5
    assert [t.file for t in record.energy] == [f"img_{i:03d}.bin" for i in range(5)]
    assert all(t.elapsed_s >= 10 for t in record.energy)
    energy = rows["ic-tiny", "mlperf_energy_per_inference"]
    assert energy["unit"] == "uJ" and energy["n"] == "5"
    # what the simulated board drew: its active current at its supply, for one inference
    expected_uj = ACTIVE_A * SUPPLY_V / float(rows["ic-tiny", "mlperf_throughput"]["value"]) * 1e6
    assert float(energy["value"]) == pytest.approx(expected_uj, rel=0.02)
    assert (rule_run / "traces" / "l4r5zi__ic-tiny__as-is.mlperf.npz").is_file()


@pytest.mark.slow
def test_energy_runs_the_monitor_cut_short_are_measured_again(ic_data, tmp_path):
    """The simulated monitor drops out of its first trace (seed 1 of its fault stream draws
    a disconnect, then none): that pass is measured again, on a monitor opened anew."""
    bench = {"name": "mlperf-monitor-loss",
             "boards": [{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"}],
             "monitors": [{"id": "mon", "backend": "sim", "powers": "l4r5zi",
                           "sample_rate": 20000,
                           "params": {"disconnect_rate": 0.5, "seed": 1}}],
             "models": [{"id": "ic-tiny", "path": str(ic_data / "ic.tflite"),
                         "dataset": f"mlperf:{ic_data / 'ic01'}"}],
             "modes": {"mlperf": {"accuracy": False}}}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    result = CliRunner().invoke(main, ["run", str(path), "--results-dir",
                                       str(tmp_path / "results")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    record = _records(run_dir)["ic-tiny"]
    again = [line for line in record.log["energy"] if "measured again" in line]
    assert len(again) == 1 and "monitor" in again[0].lower()
    assert record.energy is not None and len(record.energy) == 5
    assert all(t.elapsed_s >= 10 for t in record.energy)
    assert record.median_energy_j * record.median_throughput == pytest.approx(
        ACTIVE_A * SUPPLY_V, rel=0.02)                 # what the board drew: its power
    assert record.accuracy is None and "mlperf_top1" not in {m for _, m in _rows(run_dir)}


@pytest.mark.slow
def test_reports_show_the_rule_figures_apart_from_the_harnesss_own(rule_run):
    rows = _rows(rule_run)
    report = (rule_run / "report.md").read_text()
    assert "Columns marked (MLPerf rules) follow MLPerf Tiny's run rules" in report
    assert "inf./s (MLPerf rules)" in report and "90.0 % top-1" in report
    with (rule_run / "mlperf.csv").open(newline="") as fh:
        table = {r["benchmark"]: r for r in csv.DictReader(fh)}
    ic = table["ic-tiny"]
    assert float(ic["mlperf_throughput"]) == float(rows["ic-tiny", "mlperf_throughput"]["value"])
    assert float(ic["mlperf_accuracy"]) == 90.0        # the whole set
    assert float(ic["accuracy"]) == float(rows["ic-tiny", "top1"]["value"])   # the held-out 5
    assert float(table["ad-tiny"]["mlperf_accuracy"]) == 1.0
    assert float(ic["mlperf_energy_uj"]) == pytest.approx(
        float(rows["ic-tiny", "mlperf_energy_per_inference"]["value"]))


# --- the submission folder -----------------------------------------------------------------

EXPECTED_FILES = {f"results/NUCLEO-L4R5ZI_simulated/{b}/{t}/{f}"
                  for b in ("ic", "ad") for t in ("performance", "accuracy", "energy")
                  for f in ("results.txt", "results.json", "log.txt")} | {
    "systems/NUCLEO-L4R5ZI_simulated.json", "code/tinyml-harness/{run}.md"}


def _read(line: re.Pattern, test: Path) -> list[float]:
    """The figures a test's results.txt gives, read line by line as the checker reads them."""
    found = [line.search(text) for text in (test / "results.txt").read_text().splitlines()]
    return [float(m.group(1)) for m in found if m]


def _submit(run_dir: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["submission", str(run_dir), "--out", str(out),
                                     "--submitter", "Lab", *extra], catch_exceptions=False)


@pytest.mark.slow
def test_simulated_figures_are_no_submission_unless_asked_for(rule_run, tmp_path):
    result = _submit(rule_run, tmp_path / "sub")
    assert result.exit_code == 1
    assert "not measured" in result.output and "--allow-unmeasured" in result.output
    assert not (tmp_path / "sub").exists()


@pytest.fixture(scope="module")
def submission(rule_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("submission")
    result = _submit(rule_run, out, "--allow-unmeasured")
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_the_submission_folder_has_the_runners_files_where_the_checker_looks(
        rule_run, submission):
    root = submission / "closed" / "Lab"
    written = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert written == {f.format(run=rule_run.name) for f in EXPECTED_FILES}
    rows, records = _rows(rule_run), _records(rule_run)
    system = root / "results" / "NUCLEO-L4R5ZI_simulated"
    for model, bench in (("ic-tiny", "ic"), ("ad-tiny", "ad")):
        (median,) = _read(PERF_LINE, system / bench / "performance")
        assert median == pytest.approx(float(rows[model, "mlperf_throughput"]["value"]),
                                       abs=5e-4)
        (uj,) = _read(ENERGY_LINE, system / bench / "energy")
        assert uj == pytest.approx(float(rows[model, "mlperf_energy_per_inference"]["value"]),
                                   abs=5e-5)
        assert (system / bench / "energy" / "results.txt").read_text().count(
            "Energy data for trial") == 5
        entries = json.loads((system / bench / "performance" / "results.json").read_text())
        assert [e["file"] for e in entries] == [w.file for w in records[model].performance]
        assert all(e["infer"]["elapsed_time"] >= 10_000_000 for e in entries)
        for test in ("performance", "accuracy", "energy"):
            for name in ("results.txt", "log.txt"):    # the first line says what they are
                first = (system / bench / test / name).read_text().splitlines()[0]
                assert first.startswith("SIMULATED by tinyml-harness")
    assert _read(TOP1_LINE, system / "ic" / "accuracy") == [90.0]
    assert _read(AUC_LINE, system / "ad" / "accuracy") == [1.0]
    assert len(json.loads((system / "ic" / "accuracy" / "results.json").read_text())) == 20
    log = (system / "ic" / "performance" / "log.txt").read_text()
    assert "Loading file img_004.bin" in log and "Pilot run" in log
    desc = json.loads((root / "systems" / "NUCLEO-L4R5ZI_simulated.json").read_text())
    assert desc["Status"] == "RDI" and desc["Division"] == "Closed"
    assert desc["Board Name"].startswith("NUCLEO-L4R5ZI (SIMULATED")
    assert desc["Processor(s) Name"] == "Arm Cortex-M4F"
    assert desc["Processor(s) Frequencies"] == "120 MHz"
    assert desc["Processor memory type and capacity"] == "640KB RAM"
    assert desc["Software Libraries"] == "CMSIS-NN"
    assert desc["Hardware Notes"].startswith("SIMULATED")


@pytest.mark.slow
def test_a_run_off_the_rules_or_off_the_accuracy_set_is_not_submitted(rule_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(rule_run, run)
    for path in (run / "mlperf").glob("*.json"):
        data = json.loads(path.read_text())
        if data["model"] == "ic-tiny":
            data["rules"]["inputs"] = 3
        else:
            data["dataset"] = "npz:ad.npz"
        path.write_text(json.dumps(data))
    with pytest.raises(HarnessError) as caught:
        write_submission(run, SubmissionOptions(out=tmp_path / "sub", submitter="Lab",
                                                allow_unmeasured=True))
    assert "inputs=3 (needs 5)" in str(caught.value)
    assert "MLPerf's accuracy set" in str(caught.value)
    assert not (tmp_path / "sub").exists()


@pytest.mark.slow
def test_a_system_is_written_once(rule_run, submission):
    result = _submit(rule_run, submission, "--allow-unmeasured")
    assert result.exit_code == 1 and "exists" in result.output


def _checker_python() -> str | None:
    """A Python with pandas (the checker's one dependency beyond numpy)."""
    for python in (os.environ.get("MLPERF_CHECKER_PYTHON"), sys.executable):
        if python and subprocess.run([python, "-c", "import pandas"],
                                     capture_output=True).returncode == 0:
            return python
    return None


@pytest.mark.slow
def test_mlcommons_submission_checker_accepts_the_folder(submission, tmp_path):
    tiny = os.environ.get("MLPERF_TINY_DIR")
    checker = Path(tiny or "") / "tools" / "submission" / "submission_checker.py"
    if not tiny or not checker.is_file():
        pytest.skip("MLPERF_TINY_DIR does not point at a checkout of github.com/mlcommons/tiny "
                    "(tools/submission/submission_checker.py)")
    python = _checker_python()
    if python is None:
        pytest.skip("the checker needs pandas: python3 -m venv /tmp/checker && /tmp/checker/"
                    "bin/pip install pandas numpy, then MLPERF_CHECKER_PYTHON=/tmp/checker/"
                    "bin/python")
    for version in ("v1.3", "v1.4"):
        done = subprocess.run([python, str(checker), "--input", str(submission), "--version",
                               version, "--csv", str(tmp_path / f"{version}.csv")],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        output = done.stdout + done.stderr
        assert "SUMMARY: submission looks OK" in output, output
        assert "Results=2, NoResults=0" in output and "ERROR" not in output, output
        with (tmp_path / f"{version}.csv").open(newline="") as fh:
            table = {r["Model"]: r for r in csv.DictReader(fh)}
        assert set(table) == {"ic", "ad"}
        assert table["ic"]["Accuracy"] == "90.0" and table["ic"]["HasPower"] == "True"
        assert "SIMULATED" in table["ic"]["BoardName"] and table["ic"]["Availability"] == "rdi"
