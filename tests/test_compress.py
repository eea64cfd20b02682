"""Compression without TensorFlow: variant names, what applies to a .tflite, cache keys, cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.compress.build import check_applies
from harness.compress.cache import copy_atomic, entry_dir, publishing, variant_key
from harness.compress.card import card_path
from harness.compress.sources import open_source
from harness.compress.variants import DoesNotApply, parse_variant, parse_variant_list
from harness.config.bench import BenchModel
from harness.errors import ModelError
from harness.models.resolve import resolve_model


def test_variant_names_carry_their_parameters() -> None:
    assert parse_variant("pruned-0.75-int8").params == {"sparsity": 0.75}
    assert parse_variant("clustered-16-int8").params == {"clusters": 16}
    assert parse_variant("int16x8").quantization == "int16x8"
    assert parse_variant("fp32").quantization == "float32"
    assert not parse_variant("int8").needs_keras
    assert parse_variant("qat-int8").needs_keras
    hybrid = parse_variant("hybrid-int8").recipe(seed=3)
    assert hybrid["seed"] == 3 and hybrid["sparsity"] == 0.5 and hybrid["clusters"] == 16


@pytest.mark.parametrize("name", ["pruned-1.0-int8", "pruned-0-int8", "clustered-1-int8",
                                  "clustered-300-int8", "int4", "as-is"])
def test_bad_variant_names_list_the_known_ones(name: str) -> None:
    with pytest.raises(ModelError, match="known: as-is, fp32"):
        parse_variant(name)


def test_variant_list_rejects_repeats_and_empties() -> None:
    assert [v.name for v in parse_variant_list("int8, pruned-0.5-int8")] == [
        "int8", "pruned-0.5-int8"]
    with pytest.raises(ModelError, match="twice"):
        parse_variant_list("int8,int8")
    with pytest.raises(ModelError, match="no variants"):
        parse_variant_list(" , ")


def test_training_variants_do_not_apply_to_a_tflite(mlperf_dir: Path) -> None:
    source = open_source(mlperf_dir / "ic01_int8.tflite")
    with pytest.raises(DoesNotApply, match=r"qat-int8 trains the model.*ic01_int8.tflite"):
        check_applies(parse_variant("qat-int8"), source)
    with pytest.raises(DoesNotApply, match="already quantized"):
        check_applies(parse_variant("int8"), source)
    check_applies(parse_variant("int8"), open_source(mlperf_dir / "ic01_fp32.tflite"))


def test_bench_variant_that_does_not_apply_is_a_skip_with_its_reason(mlperf_dir: Path,
                                                                     tmp_path: Path) -> None:
    model = BenchModel(id="ic-resnet8", path="mlperf:ic01_int8.tflite")
    resolved = resolve_model(model, "qat-int8", tmp_path, mlperf_dir, tmp_path)
    assert resolved.path is None
    assert "model 'ic-resnet8', variant 'qat-int8'" in resolved.skip_reason
    assert "needs its Keras source" in resolved.skip_reason
    with pytest.raises(ModelError, match="model 'ic-resnet8': unknown variant 'qat8'"):
        resolve_model(model, "qat8", tmp_path, mlperf_dir, tmp_path)


def test_source_identity_is_its_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    assert open_source(a).sha256 == open_source(b).sha256
    with pytest.raises(ModelError, match=r"unknown model format '\.onnx'"):
        (tmp_path / "m.onnx").write_bytes(b"x")
        open_source(tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="SavedModel"):
        open_source(tmp_path)


def test_cache_key_changes_with_source_recipe_and_dataset() -> None:
    recipe = parse_variant("pruned-0.5-int8").recipe(seed=0)
    key = variant_key("a" * 64, recipe, "digits#1")
    assert key == variant_key("a" * 64, dict(recipe), "digits#1")
    assert key != variant_key("b" * 64, recipe, "digits#1")
    assert key != variant_key("a" * 64, parse_variant("pruned-0.5-int8").recipe(seed=1),
                              "digits#1")
    assert key != variant_key("a" * 64, recipe, "digits#2")


def test_a_failed_build_publishes_nothing(tmp_path: Path) -> None:
    entry = entry_dir(tmp_path, "m", "int8", "k")
    with pytest.raises(RuntimeError), publishing(entry) as staging:
        (staging / "int8.tflite").write_bytes(b"half")
        raise RuntimeError("killed")
    assert not entry.exists() and list(entry.parent.iterdir()) == []
    with publishing(entry) as staging:
        (staging / "int8.tflite").write_bytes(b"whole")
    assert (entry / "int8.tflite").read_bytes() == b"whole"


def test_card_sits_beside_its_tflite(tmp_path: Path) -> None:
    assert card_path(tmp_path / "pruned-0.5-int8.tflite") == tmp_path / "pruned-0.5-int8.card.json"
    copy_atomic(Path(__file__), tmp_path / "out" / "copy.py")
    assert (tmp_path / "out" / "copy.py").read_bytes() == Path(__file__).read_bytes()
