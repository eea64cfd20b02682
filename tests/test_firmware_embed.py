"""Model embedding: the generated C/C++ sources for the firmware's TFLM runner."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from tiny_tflite import TinyGraph, dense_float_model

from harness.errors import ModelError
from harness.firmware.model_embed import (
    RESOLVER_OPS,
    arena_with_margin,
    embed_model,
    resolver_method,
    write_model_sources,
)
from harness.models.tflite_inspect import inspect_tflite


def _array(source: str, name: str) -> bytes:
    body = re.search(rf"{name}\[[^\]]*\] = {{(.*?)}};", source, re.S)
    assert body is not None, f"no array {name}"
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", body.group(1)))


def _macros(header: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"#define (HARNESS_MODEL_\w+) (\d+)u?", header)}


@pytest.fixture()
def dense(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    return dense_float_model(tmp_path / "dense.tflite", rng.normal(size=(3, 5)).astype("float32"),
                             rng.normal(size=3).astype("float32"))


def test_sources_hold_the_model_bytes_hash_sizes_and_ops(mlperf_dir: Path,
                                                         tmp_path: Path) -> None:
    model = mlperf_dir / "kws01_int8.tflite"
    out = write_model_sources(model, tmp_path / "gen", arena_bytes=32 * 1024)
    source = (out.folder / "harness_model.cc").read_text()
    data = model.read_bytes()
    assert _array(source, "harness_model_tflite") == data
    assert _array(source, "harness_model_sha256") == hashlib.sha256(data).digest()
    assert "alignas(16) const unsigned char harness_model_tflite" in source
    info = inspect_tflite(model)
    assert _macros((out.folder / "harness_model.h").read_text()) == {
        "HARNESS_MODEL_BYTES": len(data), "HARNESS_MODEL_ARENA_BYTES": 32 * 1024,
        "HARNESS_MODEL_INPUT_BYTES": 490, "HARNESS_MODEL_OUTPUT_BYTES": 12,
        "HARNESS_MODEL_OP_COUNT": 6}
    # exactly the model's ops, each registered once, in a resolver sized for them
    calls = re.findall(r"resolver\.(Add\w+)\(\)", source)
    assert calls == ["AddAveragePool2D", "AddConv2D", "AddDepthwiseConv2D",
                     "AddFullyConnected", "AddReshape", "AddSoftmax"]
    assert len(calls) == len(info.op_names)
    assert "MicroMutableOpResolver<HARNESS_MODEL_OP_COUNT>" in \
        (out.folder / "harness_model_ops.h").read_text()
    assert (out.sha256, out.model_bytes, out.op_names) == (info.sha256, len(data), info.op_names)
    assert (out.input, out.output) == (info.inputs[0], info.outputs[0])


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_model_header_is_plain_c(dense: Path, tmp_path: Path) -> None:
    """Board files (C, or Arduino C++) include harness_model.h without any TFLM header."""
    out = write_model_sources(dense, tmp_path / "gen", arena_bytes=4096)
    probe = tmp_path / "probe.c"
    probe.write_text('#include "harness_model.h"\n'
                     "_Static_assert(HARNESS_MODEL_INPUT_BYTES == 20, \"1x5 float32\");\n"
                     "_Static_assert(HARNESS_MODEL_ARENA_BYTES % 16 == 0, \"aligned\");\n"
                     "const unsigned char *p = harness_model_tflite;\n")
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-fsyntax-only", f"-I{out.folder}",
                    str(probe)], check=True, capture_output=True)


def test_output_is_deterministic_and_folders_are_content_addressed(dense: Path,
                                                                  tmp_path: Path) -> None:
    first = embed_model(dense, tmp_path / "cache", arena_bytes=4096)
    again = embed_model(dense, tmp_path / "cache", arena_bytes=4096)
    assert again.folder == first.folder and again.digest == first.digest
    assert first.folder.name == first.digest[:16]
    bigger = embed_model(dense, tmp_path / "cache", arena_bytes=8192)
    assert bigger.folder != first.folder
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == \
        sorted([first.folder.name, bigger.folder.name])  # no temporary folder left


def test_default_arena_is_the_host_figure_plus_margin(mlperf_dir: Path, tmp_path: Path) -> None:
    from harness.models.tflm_host import TflmHostModel

    model = mlperf_dir / "ic01_int8.tflite"
    out = write_model_sources(model, tmp_path / "gen")
    host = TflmHostModel.load(model).arena_used_bytes
    assert out.arena_bytes == arena_with_margin(host)
    assert host + 4096 < out.arena_bytes < host * 1.2 + 4096


def test_arena_margin_is_aligned_and_grows_with_the_model() -> None:
    sizes = [arena_with_margin(n) for n in (1, 1000, 24_272, 55_984, 200_000)]
    assert all(s % 16 == 0 for s in sizes) and sizes == sorted(sizes)
    assert arena_with_margin(24_272) == 31_408


def test_resolver_methods_follow_tflm_spelling() -> None:
    assert resolver_method("FULLY_CONNECTED") == "AddFullyConnected"
    assert resolver_method("DEPTHWISE_CONV_2D") == "AddDepthwiseConv2D"
    assert resolver_method("RESIZE_NEAREST_NEIGHBOR") == "AddResizeNearestNeighbor"
    assert resolver_method("UNIDIRECTIONAL_SEQUENCE_LSTM") == "AddUnidirectionalSequenceLSTM"
    assert resolver_method("L2_NORMALIZATION") == "AddL2Normalization"


def test_custom_and_unknown_ops_are_refused(tmp_path: Path) -> None:
    g = TinyGraph()
    x = g.tensor((1, 4), "float32")
    y = g.tensor((1, 4), "float32")
    g.op("CUSTOM:MyOp", [x], [y])
    model = g.write(tmp_path / "custom.tflite", [x], [y])
    with pytest.raises(ModelError, match="CUSTOM:MyOp has no MicroMutableOpResolver method"):
        write_model_sources(model, tmp_path / "gen", arena_bytes=4096)
    assert not (tmp_path / "gen").exists()  # refused before anything is written
    with pytest.raises(ModelError, match="op HASHTABLE has no"):
        resolver_method("HASHTABLE")


def test_bad_arena_is_refused(dense: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="positive multiple of 16"):
        write_model_sources(dense, tmp_path, arena_bytes=1000)


@pytest.mark.skipif(not os.environ.get("TFLM_DIR"),
                    reason="TFLM_DIR is not set (a tflite-micro checkout; docs/firmware.md)")
def test_op_table_matches_the_tflm_checkout() -> None:
    header = Path(os.environ["TFLM_DIR"]) / "tensorflow/lite/micro/micro_mutable_op_resolver.h"
    pairs = re.findall(r"TfLiteStatus (Add\w+)\((?:[^()]|\([^()]*\))*\)\s*\{\s*"
                       r"return AddBuiltin\(\s*BuiltinOperator_(\w+)", header.read_text())
    assert len(pairs) > 50
    assert {op: resolver_method(op) for _, op in pairs if op in RESOLVER_OPS} == \
        {op: method for method, op in pairs}
    assert {op for _, op in pairs} == RESOLVER_OPS
