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


def test_dropped_filters_take_their_channels_out_of_every_later_layer() -> None:
    """Filters that are exactly zero (with a zero batch-norm shift and depthwise bias) add
    nothing downstream: the narrowed model must compute what the wide one does, which
    holds only if BN, depthwise, the next conv and the Dense rows lost the right channels."""
    import numpy as np

    from harness.compress.structured import _narrowed
    from harness.models.tf_env import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(3)
    layers = keras.layers
    wide = keras.Sequential([
        layers.Input((6, 6, 2)), layers.Conv2D(8, 3, padding="same", activation="relu"),
        layers.BatchNormalization(), layers.DepthwiseConv2D(3, padding="same"),
        layers.Conv2D(6, 1, activation="relu"), layers.GlobalAveragePooling2D(),
        layers.Dense(3, activation="softmax")])
    conv, bn, dw = wide.layers[0], wide.layers[1], wide.layers[2]
    dead = [0, 2, 5, 7]                       # the four weakest filters: exactly zero
    kernel, bias = conv.get_weights()
    kernel[..., dead], bias[dead] = 0.0, 0.0
    conv.set_weights([kernel, bias])
    gamma, beta, mean, var = bn.get_weights()
    beta[dead], mean[dead] = 0.0, 0.0
    bn.set_weights([gamma, beta, mean, var])
    dw_kernel, dw_bias = dw.get_weights()
    dw_bias[dead] = 0.0
    dw.set_weights([dw_kernel, dw_bias])

    config, weights, filters = _narrowed(wide, 0.5)
    narrow = keras.Sequential.from_config(config)
    for layer, kept in zip(narrow.layers, weights, strict=True):
        layer.set_weights(kept)
    assert filters == {wide.layers[0].name: [8, 4], wide.layers[3].name: [6, 3]}
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 2)).astype(np.float32)
    # the depthwise output's live channels are the wide model's, the dead ones are gone
    wide_mid = keras.Model(wide.inputs, wide.layers[2].output)(x).numpy()
    narrow_mid = keras.Model(narrow.inputs, narrow.layers[2].output)(x).numpy()
    alive = [c for c in range(8) if c not in dead]
    np.testing.assert_allclose(narrow_mid, wide_mid[..., alive], rtol=1e-5, atol=1e-6)
    assert np.abs(wide_mid[..., dead]).max() == 0.0
    # conv2 keeps its 3 strongest filters over the live inputs; each sees what it saw
    norms = np.abs(wide.layers[3].get_weights()[0][:, :, alive, :]).sum(axis=(0, 1, 2))
    kept = sorted(np.argsort(-norms)[:3])
    wide_pooled = keras.Model(wide.inputs, wide.layers[4].output)(x).numpy()
    narrow_pooled = keras.Model(narrow.inputs, narrow.layers[4].output)(x).numpy()
    np.testing.assert_allclose(narrow_pooled, wide_pooled[:, kept], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(narrow.layers[5].get_weights()[0],
                                  wide.layers[5].get_weights()[0][kept, :])
    assert narrow.count_params() < wide.count_params()
