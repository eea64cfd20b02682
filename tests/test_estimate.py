"""`harness estimate`: latency, energy, arena and flash before anything is built, each with its
constants' source and expected error; ops the latency model has no cost for are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_tflite import TinyGraph, small_int8_cnn

from harness.boards.calibration import fit_calibration, save_calibration
from harness.boards.latency_model import estimate
from harness.cli import main
from harness.config.board import find_board
from harness.firmware.model_embed import arena_with_margin
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from tests.test_calibration import PRIOR, _profiles


def _estimate(*args: str) -> dict:
    result = CliRunner().invoke(main, ["estimate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_every_figure_says_where_it_comes_from_and_how_far_off_it_may_be(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    board = find_board("nucleo_l4r5zi")
    got = _estimate(str(model), "--board", "nucleo_l4r5zi")
    expected = estimate(inspect_tflite(model), board.core, "cmsis-nn", board.clock_hz)
    assert got["count"]["value"] == expected.total_cycles
    assert got["latency"]["value"] == pytest.approx(expected.seconds * 1e3)
    assert got["energy"]["value"] == pytest.approx(
        board.supply.voltage_v * board.power.active_current_a * expected.seconds * 1e6)
    host = TflmHostModel.load(model).arena_used_bytes
    assert got["arena"]["value"] == host
    assert f"{arena_with_margin(host):,} B" in got["arena"]["notes"][0]
    assert got["flash"]["value"] > model.stat().st_size
    for name in ("latency", "energy", "arena", "flash"):
        assert got[name]["source"] and got[name]["expected_error"], name
    assert "published constants" in got["latency"]["source"]
    assert "-14.5 %" in got["latency"]["expected_error"]
    assert got["assumed"] == [] and got["does_not_fit"] == []


def test_an_op_without_a_cost_is_named_with_what_was_assumed(tmp_path: Path) -> None:
    g = TinyGraph()
    x = g.tensor((1, 16), "float32")
    y = g.tensor((1, 16), "float32")
    g.op("EXP", [x], [y])
    model = g.write(tmp_path / "exp.tflite", [x], [y])
    result = CliRunner().invoke(main, ["estimate", str(model), "--board", "nucleo_l4r5zi"])
    assert result.exit_code == 0, result.output
    assert ("assumed: EXP (ops 0): no cost in the latency model; assumed 4 cycles per output "
            "element, as data movement") in result.output


def test_a_calibrated_board_is_estimated_with_its_calibration(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    cal = save_calibration(fit_calibration(_profiles("resnet", "dscnn", "autoencoder"), PRIOR),
                           tmp_path / "qemu_mps2_an386.cmsis-nn.json")
    got = _estimate(str(model), "--board", "qemu_mps2_an386", "--calibration", str(cal))
    assert str(cal) in got["latency"]["source"]
    assert got["count"]["unit"] == "instructions"
    assert "leave-one-model-out" in got["latency"]["expected_error"]
    assert any("one instruction per cycle" in n for n in got["latency"]["notes"])
    published = _estimate(str(model), "--board", "qemu_mps2_an386", "--published")
    assert published["count"]["unit"] == "cycles"
    assert any("counts instructions and has no calibration" in n
               for n in published["latency"]["notes"])


def test_a_calibration_of_another_board_is_refused(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    cal = save_calibration(fit_calibration(_profiles("resnet", "dscnn", "autoencoder"), PRIOR),
                           tmp_path / "c.json")
    result = CliRunner().invoke(main, ["estimate", str(model), "--board", "nucleo_l4r5zi",
                                       "--calibration", str(cal)])
    assert result.exit_code == 2 and "calibrates qemu_mps2_an386 with cmsis-nn" in result.output


def test_kernels_the_core_has_no_constants_for_are_refused(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    result = CliRunner().invoke(main, ["estimate", str(model), "--board", "nucleo_l4r5zi",
                                       "--kernels", "esp-nn"])
    assert result.exit_code == 1
    assert "no latency profile for core 'cortex-m4f' with kernels 'esp-nn'" in result.output


def test_the_qemu_board_is_estimated_with_its_committed_calibration(tmp_path: Path) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    got = _estimate(str(model), "--board", "qemu_mps2_an386")
    assert "boards/calibrations/qemu_mps2_an386.cmsis-nn.json" in got["latency"]["source"]
    reference = _estimate(str(model), "--board", "qemu_mps2_an386", "--kernels", "reference")
    assert "qemu_mps2_an386.reference.json" in reference["latency"]["source"]
    assert reference["count"]["value"] > got["count"]["value"]
