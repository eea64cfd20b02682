"""Kernel libraries as a bench axis: a board entry's ``kernels`` list, one job per library,
rows naming the board ``<id>@<kernels>``, and the savings table saying what CMSIS-NN buys."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tiny_tflite import small_int8_cnn

from harness.boards.latency_model import estimate
from harness.cli import main
from harness.config.bench import load_bench
from harness.errors import ConfigError
from harness.kernels import split_board_label
from harness.models.tflite_inspect import inspect_tflite
from harness.plan import job_board, plan_jobs
from harness.report.content import gather
from harness.results.store import RunStore


def _bench(tmp_path: Path, boards: list[dict], model: Path | None = None) -> Path:
    model = model or small_int8_cnn(tmp_path / "cnn.tflite")
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"name": "kernels", "boards": boards,
                                    "models": [{"id": "cnn", "path": str(model)}],
                                    "modes": {"performance": {"warmups": 0, "runs": 5}}}))
    return path


def test_each_listed_library_is_a_job_with_its_own_board_build(tmp_path: Path) -> None:
    bench = load_bench(_bench(tmp_path, [
        {"id": "qemu", "board": "qemu_mps2_an386", "kernels": ["cmsis-nn", "reference"]},
        {"id": "l4", "board": "nucleo_l4r5zi", "kind": "sim"}]))
    jobs = plan_jobs(bench)
    assert [j.key for j in jobs] == ["qemu@cmsis-nn/cnn/as-is", "qemu@reference/cnn/as-is",
                                     "l4/cnn/as-is"]
    assert [job_board(bench, j).build.kernels for j in jobs] == ["cmsis-nn", "reference",
                                                                  "cmsis-nn"]
    assert split_board_label("qemu@reference") == ("qemu", "reference")


@pytest.mark.parametrize(("board", "kernels", "field", "says"), [
    ({"board": "nucleo_l4r5zi"}, ["cmsis-nn", "reference"], "boards[0].kernels[1]",
     "platformio build) runs cmsis-nn only, not reference"),
    ({"board": "esp32dev", "kind": "sim"}, ["cmsis-nn"], "boards[0].kernels[0]",
     "runs esp-nn or reference only"),
    ({"board": "qemu_mps2_an386"}, ["reference", "reference"], "boards[0].kernels[1]",
     "'reference' twice"),
])
def test_a_library_the_build_cannot_run_is_refused_by_field(tmp_path: Path, board: dict,
                                                             kernels: list[str], field: str,
                                                             says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_bench(_bench(tmp_path, [{"id": "b", **board, "kernels": kernels}]))
    assert caught.value.field == field and says in caught.value.message


def test_one_run_shows_what_cmsis_nn_buys(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    bench = _bench(tmp_path, [{"id": "l4", "board": "nucleo_l4r5zi", "kind": "sim",
                               "kernels": ["reference", "cmsis-nn"]}], model)
    result = CliRunner().invoke(main, ["run", str(bench), "--results-dir",
                                       str(tmp_path / "results")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    with (run_dir / "results.csv").open(newline="") as fh:
        latency = {r["board"]: float(r["value"]) for r in csv.DictReader(fh)
                   if r["metric"] == "latency_median"}
    assert set(latency) == {"l4@reference", "l4@cmsis-nn"}
    info = inspect_tflite(model)
    modelled = {k: estimate(info, "cortex-m4f", k, 120_000_000).seconds * 1e3
                for k in ("reference", "cmsis-nn")}
    content = gather(RunStore(run_dir))
    (saving,) = content.savings
    assert (saving.board, saving.variant, saving.reference) == \
        ("l4", "as-is, cmsis-nn kernels", "as-is, reference kernels")
    expected = (1 - modelled["cmsis-nn"] / modelled["reference"]) * 100
    assert saving.percent["latency"] == pytest.approx(expected, abs=0.5)
    assert saving.percent["latency"] == pytest.approx(
        (1 - latency["l4@cmsis-nn"] / latency["l4@reference"]) * 100)
    assert "as-is, cmsis-nn kernels" in (run_dir / "report.md").read_text()
