"""A run keeps the board definitions it measured with (``boards/<id>.yaml`` in its folder),
so `harness report` and `harness submission` describe a lab's own board without the
lab's folder, and as it was defined then; runs from before the copies read as before.

One `harness run --mlperf` of a simulated lab board (a copy of the NUCLEO-L4R5ZI under
a new id, name and clock) on an IC-like model and a small MLPerf-style dataset folder.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from tiny_tflite import ic_like_model_and_folder

from harness.cli import main
from harness.config.board import boards_dir

LAB_BOARD = "lab_l4_rev_b"
LAB_NAME = "Lab L4 Rev B"
LAB_PROCESSOR = "STM32L4R5ZI (Cortex-M4F) @ 80 MHz"
IC_FILES = 8


def lab_definition(name: str) -> str:
    """Our NUCLEO-L4R5ZI file as a lab's own board: another id, name and clock."""
    text = (boards_dir() / "nucleo_l4r5zi.yaml").read_text()
    replaced = (text.replace("id: nucleo_l4r5zi", f"id: {LAB_BOARD}")
                .replace("name: NUCLEO-L4R5ZI", f"name: {name}")
                .replace("clock_hz: 120000000", "clock_hz: 80000000"))
    assert replaced.count(LAB_BOARD) == 1 and replaced.count("80000000") == 1
    return replaced


def lab_boards(folder: Path, name: str = LAB_NAME) -> Path:
    folder.mkdir(parents=True)
    (folder / f"{LAB_BOARD}.yaml").write_text(lab_definition(name))
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    """A lab's folder: its board files, an IC-like model (logit c = feature c), its
    MLPerf-style accuracy set, and a bench naming the lab's board (no boards_dir key)."""
    root = tmp_path_factory.mktemp("lab")
    lab_boards(root / "boards")
    ic_like_model_and_folder(root, IC_FILES)
    bench = {"name": "lab-board",
             "boards": [{"id": "lab", "board": LAB_BOARD, "kind": "sim"}],
             "models": [{"id": "ic-tiny", "path": "ic.tflite", "dataset": "mlperf:ic01"}],
             "modes": {"performance": {"warmups": 0, "runs": 5}, "accuracy": {"samples": 8}}}
    (root / "bench.yaml").write_text(yaml.safe_dump(bench, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def lab_run(lab, tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    ok(invoke("run", str(lab / "bench.yaml"), "--mlperf", "--results-dir", str(results),
              "--boards-dir", str(lab / "boards")))
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def copy_run(run_dir: Path, results: Path, with_boards: bool = True) -> Path:
    """The run in a folder of its own; without ``boards/``, as runs before the copies were."""
    copy = results / run_dir.name
    shutil.copytree(run_dir, copy)
    if not with_boards:
        shutil.rmtree(copy / "boards")
    return copy


def systems(run_dir: Path) -> dict[str, tuple[str, str]]:
    """mlperf.csv: benchmark -> (board, processor), as the report's MLPerf table shows them."""
    with (run_dir / "mlperf.csv").open(newline="") as fh:
        return {r["benchmark"]: (r["board"], r["processor"]) for r in csv.DictReader(fh)}


def test_a_run_keeps_the_definition_of_each_board_it_used(lab, lab_run):
    assert [p.name for p in (lab_run / "boards").iterdir()] == [f"{LAB_BOARD}.yaml"]
    assert (lab_run / "boards" / f"{LAB_BOARD}.yaml").read_bytes() == \
        (lab / "boards" / f"{LAB_BOARD}.yaml").read_bytes()
    # the report the run wrote already describes the lab's board
    assert systems(lab_run) == {"ic-tiny": (f"{LAB_NAME} (lab)", LAB_PROCESSOR)}


def test_the_report_describes_the_board_as_the_run_measured_it(lab_run, tmp_path):
    run = copy_run(lab_run, tmp_path / "results")
    for path in ("report.md", "report.html", "mlperf.csv"):
        (run / path).unlink()
    ok(invoke("report", str(run)))                    # no --boards-dir
    assert systems(run) == {"ic-tiny": (f"{LAB_NAME} (lab)", LAB_PROCESSOR)}
    assert f"| {LAB_NAME} (lab) | harness | {LAB_PROCESSOR} |" in (run / "report.md").read_text()
    # the latency figure needs the board's clock: it is drawn
    assert "Latency per run, all jobs" in (run / "report.html").read_text()
    # the lab's file reads differently today: the run's copy still wins
    today = lab_boards(tmp_path / "today", name="Lab L4 Rev C")
    ok(invoke("report", str(run), "--boards-dir", str(today)))
    assert systems(run) == {"ic-tiny": (f"{LAB_NAME} (lab)", LAB_PROCESSOR)}


def test_a_run_without_copies_reports_as_before(lab, lab_run, tmp_path):
    run = copy_run(lab_run, tmp_path / "results", with_boards=False)
    ok(invoke("report", str(run)))
    assert systems(run) == {"ic-tiny": (f"{LAB_BOARD} (lab)", "unknown (no board definition)")}
    ok(invoke("report", str(run), "--boards-dir", str(lab / "boards")))
    assert systems(run) == {"ic-tiny": (f"{LAB_NAME} (lab)", LAB_PROCESSOR)}


def submit(run_dir: Path, out: Path, *extra: str) -> Result:
    return invoke("submission", str(run_dir), "--out", str(out), "--submitter", "Lab",
                  "--allow-unmeasured", *extra)


def test_the_submission_takes_the_board_from_the_run(lab_run, tmp_path):
    ok(submit(lab_run, tmp_path / "sub"))             # no --boards-dir
    system = tmp_path / "sub" / "closed" / "Lab" / "systems" / "Lab_L4_Rev_B_simulated.json"
    desc = json.loads(system.read_text())
    assert desc["Board Name"].startswith(f"{LAB_NAME} (SIMULATED")
    assert desc["Processor(s) Frequencies"] == "80 MHz"


def test_a_run_without_copies_is_submitted_with_the_labs_folder(lab, lab_run, tmp_path):
    run = copy_run(lab_run, tmp_path / "results", with_boards=False)
    refused = submit(run, tmp_path / "refused")
    assert refused.exit_code == 1
    assert "no board definition for its system description" in refused.output
    assert not (tmp_path / "refused").exists()
    ok(submit(run, tmp_path / "sub", "--boards-dir", str(lab / "boards")))
    assert (tmp_path / "sub" / "closed" / "Lab" / "systems" /
            "Lab_L4_Rev_B_simulated.json").is_file()


def test_a_resumed_run_keeps_its_copy_and_says_the_definition_changed(lab, lab_run, tmp_path):
    results = tmp_path / "results"
    run = copy_run(lab_run, results)
    kept = (run / "boards" / f"{LAB_BOARD}.yaml").read_bytes()
    today = lab_boards(tmp_path / "today", name="Lab L4 Rev C")
    resumed = ok(invoke("run", str(lab / "bench.yaml"), "--mlperf", "--results-dir",
                        str(results), "--resume", run.name, "--boards-dir", str(today)))
    assert (run / "boards" / f"{LAB_BOARD}.yaml").read_bytes() == kept
    assert f"board definition {LAB_BOARD} changed since run {run.name} started" in \
        resumed.output
    assert systems(run) == {"ic-tiny": (f"{LAB_NAME} (lab)", LAB_PROCESSOR)}
