"""Every variant of the digits CNN, built once per session into the shared model cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.compress.pipeline import (
    CompressRequest,
    VariantOutcome,
    build_variants,
    load_dataset_for,
)
from harness.compress.quantize import convert_keras
from harness.compress.sources import ModelSource, open_source
from harness.config.bench import BenchModel
from harness.models.digits_model import build_digits_models
from harness.models.resolve import copy_cards, resolve_model
from harness.models.tflite_inspect import inspect_tflite

pytestmark = [pytest.mark.slow, pytest.mark.tflm]

ALL = ["fp32", "int8", "int16x8", "qat-int8", "pruned-0.5-int8", "clustered-16-int8",
       "distilled-int8", "hybrid-int8"]
CARD_KEYS = {"model", "variant", "source_sha256", "tflite_sha256", "file_bytes", "gzip_bytes",
             "params", "nonzero_params", "sparsity", "macs_total", "macs_per_op", "ops",
             "tflm_supported", "unsupported_ops", "arena_bytes", "accuracy", "recipe",
             "created", "tensorflow", "tfmot", "harness_version"}
ONE_SAMPLE = 1 / 450  # the held-out split of digits


@pytest.fixture(scope="session")
def digits_source(model_cache: Path) -> ModelSource:
    return open_source(build_digits_models(model_cache).keras, name="digits")


def _request(source: ModelSource, cache: Path, dataset: str = "digits",
             force: bool = False) -> CompressRequest:
    return CompressRequest(source, source.name, load_dataset_for(source, dataset), dataset,
                           cache, seed=0, force=force)


@pytest.fixture(scope="session")
def built(digits_source: ModelSource, model_cache: Path) -> dict[str, VariantOutcome]:
    return {o.variant: o for o in build_variants(_request(digits_source, model_cache), ALL)}


def _card(outcome: VariantOutcome) -> dict:
    assert outcome.card is not None, outcome.error
    return json.loads(outcome.card.read_text())


def test_every_variant_builds_runs_on_tflm_and_keeps_its_accuracy(built) -> None:
    assert {name: o.error for name, o in built.items()} == dict.fromkeys(ALL, "")
    for name, outcome in built.items():
        card = _card(outcome)
        assert set(card) >= CARD_KEYS, name
        acc = card["accuracy"]
        assert acc["metric"] == "top1" and acc["n"] == 450 and acc["dataset"] == "digits"
        assert acc["tflite"] >= 0.9, name
        assert abs(acc["tflite"] - acc["tflm"]) <= 2 * ONE_SAMPLE, name
        assert card["tflm_supported"] and card["unsupported_ops"] == []
        assert card["arena_bytes"] > 0
        assert sum(op["macs"] for op in card["macs_per_op"]) == card["macs_total"]
        assert card["recipe"]["seed"] == 0


def test_quantized_variants_take_and_give_integers(built) -> None:
    io = {name: [s.dtype for s in (info.inputs + info.outputs)]
          for name, info in ((n, inspect_tflite(o.tflite)) for n, o in built.items())}
    assert io["fp32"] == ["float32", "float32"]
    assert io["int16x8"] == ["int16", "int16"]
    assert all(io[n] == ["int8", "int8"] for n in ALL if n.endswith("int8"))


def test_compression_shows_in_the_cards(built) -> None:
    card = {name: _card(o) for name, o in built.items()}
    assert card["int8"]["file_bytes"] < card["fp32"]["file_bytes"] / 2
    pruned = card["pruned-0.5-int8"]
    assert pruned["training"]["kernel_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert 0.45 <= pruned["sparsity"] <= 0.5      # biases are not pruned
    assert pruned["gzip_bytes"] < card["int8"]["gzip_bytes"]
    assert card["clustered-16-int8"]["training"]["max_distinct_kernel_values"] <= 16
    assert card["clustered-16-int8"]["gzip_bytes"] < card["int8"]["gzip_bytes"]
    distilled = card["distilled-int8"]
    assert distilled["params"] < card["int8"]["params"] / 2 + 100
    assert distilled["macs_total"] < card["int8"]["macs_total"]
    hybrid = card["hybrid-int8"]
    assert hybrid["training"]["distillation"] == "applied"
    assert hybrid["gzip_bytes"] < min(card[n]["gzip_bytes"] for n in ALL if n != "hybrid-int8")


def test_second_build_reads_the_cache(built, digits_source, model_cache) -> None:
    before = {n: o.tflite.stat().st_mtime_ns for n, o in built.items()}
    again = build_variants(_request(digits_source, model_cache), ["int8", "hybrid-int8"])
    assert all(o.cached for o in again)
    assert {o.variant: o.tflite.stat().st_mtime_ns for o in again} == {
        n: before[n] for n in ("int8", "hybrid-int8")}


def test_rebuild_is_reproducible(built, digits_source, tmp_path) -> None:
    """Conversion alone is bit-identical; trained variants are checked by thresholds.

    With TensorFlow's op determinism trained variants also come out bit-identical on
    one machine, but oneDNN kernels differ between CPUs and thread counts, so the
    test asks only for the same sparsity and accuracy within two samples.
    """
    again = {o.variant: o for o in build_variants(_request(digits_source, tmp_path),
                                                  ["int8", "pruned-0.5-int8"])}
    assert again["int8"].tflite.read_bytes() == built["int8"].tflite.read_bytes()
    new, old = _card(again["pruned-0.5-int8"]), _card(built["pruned-0.5-int8"])
    assert abs(new["accuracy"]["tflite"] - old["accuracy"]["tflite"]) <= 2 * ONE_SAMPLE
    assert new["sparsity"] == pytest.approx(old["sparsity"], abs=0.01)
    assert new["file_bytes"] == old["file_bytes"]


def _tiny_model(top_k: bool = False):
    """A small Functional classifier for digits (optionally with an op TFLM lacks)."""
    from harness.models.tf_env import import_tf

    tf, keras = import_tf()
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Flatten()(inp)
    x = keras.layers.Dense(16, activation="relu")(x)
    if top_k:  # TOPK_V2 converts to a builtin op that TFLM does not implement
        x = keras.layers.Lambda(lambda t: tf.math.top_k(t, k=16).values)(x)
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(x))


def _save_tiny(tmp_path: Path, name: str) -> ModelSource:
    path = tmp_path / f"{name}.keras"
    _tiny_model().save(path)
    return open_source(path)


def test_failures_are_recorded_with_model_variant_and_reason(tmp_path) -> None:
    source = _save_tiny(tmp_path, "tiny")
    outcomes = {o.variant: o for o in build_variants(
        _request(source, tmp_path), ["int8", "distilled-int8", "qat-int8"])}
    assert outcomes["int8"].ok and outcomes["qat-int8"].ok   # the others still get built
    error = outcomes["distilled-int8"].error
    assert error.startswith("model 'tiny', variant 'distilled-int8': distillation does not "
                            "apply")
    assert "Functional" in error


def test_ops_tflm_cannot_run_fail_the_variant_and_are_named_in_its_card(tmp_path) -> None:
    path = tmp_path / "topk.tflite"  # a float .tflite source: no Keras file can hold the lambda
    path.write_bytes(convert_keras(_tiny_model(top_k=True), "float32", None))
    source = open_source(path)
    (outcome,) = build_variants(_request(source, tmp_path), ["fp32"])
    assert not outcome.ok
    assert "model 'topk', variant 'fp32': TFLM cannot run it" in outcome.error
    assert "TOPK_V2" in outcome.error
    card = _card(outcome)
    assert card["tflm_supported"] is False and card["unsupported_ops"] == ["TOPK_V2"]
    assert card["arena_bytes"] is None and card["accuracy"]["tflm"] is None


def test_a_dataset_that_does_not_fit_the_model_is_named(digits_source, tmp_path) -> None:
    npz = tmp_path / "wrong.npz"
    np.savez(npz, x=np.zeros((40, 5), np.float32), y=np.arange(40) % 2)
    (outcome,) = build_variants(_request(digits_source, tmp_path, f"npz:{npz}"), ["int8"])
    assert outcome.error.startswith("model 'digits', variant 'int8': ")
    assert "samples of shape (5,), the model expects (8, 8, 1)" in outcome.error


def test_bench_variants_resolve_to_cached_files_with_cards(built, model_cache, tmp_path) -> None:
    model = BenchModel(id="digits-cnn", path="builtin:digits", dataset="digits")
    resolved = resolve_model(model, "pruned-0.5-int8", tmp_path, tmp_path, model_cache)
    assert resolved.path is not None and resolved.card is not None
    assert resolved.path.read_bytes() == built["pruned-0.5-int8"].tflite.read_bytes()
    copy_cards({("digits-cnn", "pruned-0.5-int8"): resolved,
                ("digits-cnn", "as-is"): resolve_model(model, "as-is", tmp_path, tmp_path,
                                                       model_cache)}, tmp_path / "run")
    (card,) = (tmp_path / "run" / "cards").iterdir()
    assert card.name == "digits-cnn__pruned-0.5-int8.json"
    assert json.loads(card.read_text())["model"] == "digits-cnn"


def test_a_float_tflite_is_quantized_with_the_dataset(model_cache, tmp_path) -> None:
    source = open_source(build_digits_models(model_cache).fp32, name="digits-fp32")
    (outcome,) = build_variants(_request(source, tmp_path), ["int8"])
    card = _card(outcome)
    assert outcome.ok and card["input"]["dtype"] == "int8"
    assert card["accuracy"]["tflm"] >= 0.9


def test_a_bench_run_measures_variants_and_skips_those_that_do_not_apply(tmp_path,
                                                                          mlperf_dir) -> None:
    import yaml
    from click.testing import CliRunner

    from harness.cli import main

    bench = tmp_path / "bench.yaml"
    bench.write_text(yaml.safe_dump({
        "name": "variants", "boards": [{"id": "b", "board": "nucleo_l4r5zi", "kind": "sim"}],
        "models": [{"id": "digits-cnn", "path": "builtin:digits", "dataset": "digits"},
                   {"id": "ic", "path": "mlperf:ic01_int8.tflite"}],
        "variants": ["as-is", "pruned-0.5-int8"],
        "modes": {"performance": {"warmups": 0, "runs": 3}}}))
    result = CliRunner().invoke(main, ["run", str(bench), "--results-dir", str(tmp_path / "r"),
                                       "--mlperf-dir", str(mlperf_dir)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in (tmp_path / "r").iterdir() if p.is_dir()]
    outcomes = {o["job"]: o for o in map(json.loads,
                                         (run_dir / "jobs.jsonl").read_text().splitlines())}
    assert outcomes["b/digits-cnn/pruned-0.5-int8"]["status"] == "done"
    skipped = outcomes["b/ic/pruned-0.5-int8"]
    assert skipped["status"] == "skipped" and "needs its Keras source" in skipped["message"]
    assert [p.name for p in (run_dir / "cards").iterdir()] == [
        "digits-cnn__pruned-0.5-int8.json"]
