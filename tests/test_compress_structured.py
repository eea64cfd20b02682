"""Structured pruning on the digits CNN: fewer filters, so fewer MACs, bytes and cycles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.boards.latency_model import estimate
from harness.compress.pipeline import CompressRequest, build_variants, load_dataset_for
from harness.compress.sources import open_source
from harness.compress.variants import parse_variant
from harness.errors import ModelError
from harness.models.digits_model import build_digits_models
from harness.models.tflite_inspect import inspect_tflite

pytestmark = [pytest.mark.slow, pytest.mark.tflm]
ONE_SAMPLE = 1 / 450


def test_structured_names_parse_through_the_one_registry() -> None:
    variant = parse_variant("structured-0.5-int8")
    assert (variant.kind, variant.params, variant.needs_keras) == (
        "structured", {"filter_fraction": 0.5}, True)
    for bad in ("structured-1.0-int8", "structured-0-int8", "structured-0.5"):
        with pytest.raises(ModelError, match="structured-<P>-int8"):
            parse_variant(bad)


@pytest.fixture(scope="module")
def cards(model_cache: Path) -> dict[str, tuple[dict, Path]]:
    source = open_source(build_digits_models(model_cache).keras, name="digits")
    request = CompressRequest(source, "digits", load_dataset_for(source, "digits"), "digits",
                              model_cache)
    out = {}
    for o in build_variants(request, ["int8", "pruned-0.5-int8", "structured-0.5-int8"]):
        assert o.ok and o.card is not None and o.tflite is not None, o.error
        out[o.variant] = (json.loads(o.card.read_text()), o.tflite)
    return out


def test_removing_half_the_filters_cuts_macs_bytes_and_keeps_accuracy(cards) -> None:
    int8, _ = cards["int8"]
    unstructured, _ = cards["pruned-0.5-int8"]
    structured, _ = cards["structured-0.5-int8"]
    facts = structured["training"]
    assert facts["filters"] == {"conv1": [8, 4], "conv2": [16, 8]}
    # conv2 loses half its inputs and half its filters: a quarter of its MACs stay
    assert facts["macs_before"] == int8["macs_total"] == 25_600
    assert facts["macs_after"] == structured["macs_total"]
    assert structured["macs_total"] <= 0.5 * int8["macs_total"]
    assert structured["params"] <= 0.5 * int8["params"]
    assert structured["file_bytes"] < 0.75 * int8["file_bytes"]
    # unstructured pruning zeroes weights in tensors of unchanged shape
    assert unstructured["macs_total"] == int8["macs_total"]
    assert unstructured["file_bytes"] == int8["file_bytes"]
    assert structured["accuracy"]["tflm"] >= int8["accuracy"]["tflm"] - 0.03
    assert abs(structured["accuracy"]["tflm"] - structured["accuracy"]["tflite"]) <= \
        2 * ONE_SAMPLE


def test_a_simulated_board_runs_the_narrower_model_faster(cards) -> None:
    cycles = {name: estimate(inspect_tflite(path), "cortex-m4f", "cmsis-nn", 80_000_000)
              .total_cycles for name, (_, path) in cards.items()}
    assert cycles["pruned-0.5-int8"] == cycles["int8"]
    assert cycles["structured-0.5-int8"] < 0.75 * cycles["int8"]


def test_a_functional_model_is_refused_with_the_reason(model_cache: Path, tmp_path: Path) -> None:
    from harness.models.tf_env import import_tf

    _, keras = import_tf()
    inp = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)
    x = keras.layers.Add()([x, x])
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    keras.Model(inp, out).save(tmp_path / "residual.keras")
    source = open_source(tmp_path / "residual.keras")
    request = CompressRequest(source, "residual", load_dataset_for(source, "digits"),
                              "digits", model_cache)
    [outcome] = build_variants(request, ["structured-0.5-int8"])
    assert outcome.tflite is None
    assert "structured pruning does not apply" in outcome.error
    assert "Functional" in outcome.error
