"""The technique study: its statistics, and a whole `harness study` on a simulated board."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.study_stats import NO_SPREAD, anova, mean_ci


def test_mean_ci_is_the_t_interval() -> None:
    values = [10.0, 12.0, 11.0, 13.0]
    m = mean_ci(values)
    half = 3.182446305284263 * np.std(values, ddof=1) / 2   # t(0.975, 3), sqrt(4)
    assert (m.mean, m.n) == (11.5, 4)
    assert m.ci_low == pytest.approx(11.5 - half) and m.ci_high == pytest.approx(11.5 + half)
    assert mean_ci([3.0]).ci_low is None


def test_anova_separates_distinct_groups_and_not_equal_ones() -> None:
    rng = np.random.default_rng(1)
    apart = anova({"a": list(rng.normal(0, 1, 5)), "b": list(rng.normal(10, 1, 5)),
                   "c": list(rng.normal(0, 1, 5))})
    assert apart.significant is True
    pairs = {(p.a, p.b): p.p for p in apart.pairs}
    assert pairs[("a", "b")] < 0.05 and pairs[("b", "c")] < 0.05 and pairs[("a", "c")] > 0.05
    alike = anova({"a": list(rng.normal(0, 1, 5)), "b": list(rng.normal(0, 1, 5))})
    assert alike.significant is False
    exact = anova({"a": [1.0, 1.0], "b": [2.0, 2.0]})
    assert (exact.p, exact.note) == (None, NO_SPREAD)
    assert anova({"a": [1.0, 2.0], "b": [3.0]}).note.startswith("fewer than two")


@pytest.fixture
def functional_model(tmp_path: Path) -> Path:
    """A small residual (Functional) CNN for 8x8 digits: pruning and distillation do not
    apply to it, so the study must record why and go on."""
    from harness.models.tf_env import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Add()([x, keras.layers.Conv2D(4, 1)(x)])
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    path = tmp_path / "residual.keras"
    keras.Model(inp, out).save(path)
    return path


@pytest.mark.slow
@pytest.mark.tflm
def test_a_study_measures_what_builds_and_records_what_does_not(
        tmp_path: Path, functional_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import study
    from harness.cli import main

    # hybrid trains three stages (~15 s a seed); the others show every path of the study
    monkeypatch.setattr(study, "TECHNIQUES", study.TECHNIQUES[:4])
    bench = tmp_path / "bench.yaml"
    bench.write_text(f"""
name: tiny
boards: [{{id: sim, board: nucleo_l4r5zi, kind: sim}}]
monitors: [{{id: mon, backend: sim, powers: sim, params: {{noise_a: 0.0002}}}}]
models: [{{id: res, path: {functional_model}, dataset: digits}}]
modes:
  performance: {{warmups: 1, runs: 5}}
  energy: {{windows: 2, inferences_per_window: 2, idle_s: 0.05}}
""")
    result = CliRunner().invoke(main, ["study", str(bench), "--seeds", "2",
                                       "--results-dir", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    [run_dir] = (tmp_path / "results").iterdir()
    doc = json.loads((run_dir / "study.json").read_text())
    assert doc["retrained"] == {"res": False}     # a file: seeds vary the compression only
    failed = {(b["technique"], b["seed"]): b["error"] for b in doc["builds"] if b["error"]}
    assert set(failed) == {("pruning", 0), ("pruning", 1), ("distillation", 0),
                           ("distillation", 1)}
    assert "structured pruning does not apply" in failed[("pruning", 0)]
    assert "distillation does not apply" in failed[("distillation", 1)]
    samples = {(s["technique"], s["seed"]): s for s in doc["samples"]}
    assert set(samples) == {("baseline", 0), ("baseline", 1), ("int8", 0), ("int8", 1)}
    assert {s["source"] for s in doc["samples"]} == {"simulated"}
    int8 = samples[("int8", 0)]["values"]
    assert samples[("baseline", 1)]["values"]["latency_reduction"] == 0.0
    assert int8["size_reduction"] > 50       # 4-byte floats become 1-byte integers
    assert int8["latency_reduction"] > 0     # CMSIS-NN int8 against float reference kernels
    assert int8["energy_saving"] > 0
    summary = {(r["technique"], r["metric"]): r for r in doc["summary"]}
    assert summary[("int8", "size_reduction")]["n"] == 2
    tests = {t["metric"]: t for t in doc["tests"]}
    assert tests["size_reduction"]["note"] == NO_SPREAD   # bytes do not depend on the seed
    assert set(tests) == {"accuracy", "accuracy_retention", "size_reduction",
                          "latency_reduction", "energy_saving"}
    retention = samples[("int8", 1)]["values"]["accuracy_retention"]   # paired with seed 1
    assert retention == pytest.approx(100 * samples[("int8", 1)]["values"]["accuracy"]
                                      / samples[("baseline", 1)]["values"]["accuracy"])
    with (run_dir / "study.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["technique"] for r in rows} == {"baseline", "int8"}
    assert {r["published"] for r in rows if r["technique"] == "int8"} == {
        "93.2", "98.6", "70", "50", "45"}
    html = (run_dir / "report.html").read_text()
    assert 'id="study"' in html and "structured pruning does not apply" in html
    markdown = (run_dir / "study.md").read_text()
    assert "energy saving %" in markdown and "seeds vary the compression training only" in markdown


def test_an_unknown_model_is_named(tmp_path: Path) -> None:
    from harness.cli import main

    bench = tmp_path / "bench.yaml"
    bench.write_text("""
name: tiny
boards: [{id: sim, board: nucleo_l4r5zi, kind: sim}]
models: [{id: digits, path: builtin:digits, dataset: digits}]
modes: {performance: {runs: 5}}
""")
    result = CliRunner().invoke(main, ["study", str(bench), "--model", "nope"])
    assert result.exit_code == 2
    assert "models" in result.output and "'nope'" in result.output
