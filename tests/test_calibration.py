"""`harness calibrate`: per-op costs fitted from per-layer profiles, leave-one-model-out errors,
refusals, and the calibration used by estimates and the simulated board.

The profiles here are written by a known cost law (a board whose costs follow the model's
own shape), so what the fit recovers is checked against what made the counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_tflite import small_int8_cnn

import harness.boards.calibration as calibration_module
from harness.boards.calibration import (
    CalibrationError,
    OpSample,
    ProfiledModel,
    fit_calibration,
    kind_of,
    load_calibration,
    save_calibration,
)
from harness.boards.latency_model import estimate, published_cost
from harness.boards.sim_board import build_device
from harness.cli import main
from harness.config.board import find_board
from harness.errors import ConfigError
from harness.measure.profile import FORMAT_VERSION
from harness.models.tflite_inspect import inspect_tflite

PRIOR = published_cost("cortex-m4f", "cmsis-nn")
LAW = (1.7, 9.0, 45.0)                              # per MAC, per tap, per output element
FACTOR = {"CONV_2D/kxk": 1.3, "CONV_2D/1x1": 0.8, "DEPTHWISE_CONV_2D": 1.1,
          "FULLY_CONNECTED": 1.0}
PER_ELEMENT = {"ADD": 80.0, "SOFTMAX": 30.0, "AVERAGE_POOL_2D": 6.5}
BETWEEN = 60.0


def _op(op: str, macs: int, outputs: int, inputs: int = 0, kernel: tuple[int, ...] = (),
        stride: tuple[int, ...] = ()) -> OpSample:
    return OpSample(op, "int8", macs, outputs, inputs, kernel, stride, 0.0)


def _true_cost(o: OpSample) -> float:
    kind = kind_of(o)
    if kind in FACTOR:
        return FACTOR[kind] * (LAW[0] * o.macs + LAW[1] * o.taps + LAW[2] * o.output_elements)
    per = PER_ELEMENT[o.op]
    return per * (o.input_elements if o.op == "AVERAGE_POOL_2D" else o.output_elements) + 200


def _conv(out_hw: int, cin: int, cout: int, k: int) -> OpSample:
    return _op("CONV_2D", out_hw * cout * k * k * cin, out_hw * cout, out_hw * cin,
               (cout, k, k, cin), (1, 1))


MODELS = {  # name -> ops: a ResNet-ish, a DS-CNN-ish, an autoencoder, a MobileNet-ish
    "resnet": [_conv(1024, 3, 16, 3), _conv(1024, 16, 16, 3), _op("ADD", 0, 16384, 16384),
               _conv(256, 16, 32, 3), _op("AVERAGE_POOL_2D", 0, 32, 8192),
               _op("FULLY_CONNECTED", 320, 10, 32, (10, 32)), _op("SOFTMAX", 0, 10, 10)],
    "dscnn": [_conv(125, 1, 64, 4), _op("DEPTHWISE_CONV_2D", 72000, 8000, 8000, (1, 3, 3, 64)),
              _conv(125, 64, 64, 1), _op("DEPTHWISE_CONV_2D", 72000, 8000, 8000, (1, 3, 3, 64)),
              _conv(125, 64, 64, 1), _op("AVERAGE_POOL_2D", 0, 64, 8000),
              _op("FULLY_CONNECTED", 768, 12, 64, (12, 64)), _op("SOFTMAX", 0, 12, 12)],
    "autoencoder": [_op("FULLY_CONNECTED", 81920, 128, 640, (128, 640)),
                    _op("FULLY_CONNECTED", 16384, 128, 128, (128, 128)),
                    _op("FULLY_CONNECTED", 1024, 8, 128, (8, 128)),
                    _op("FULLY_CONNECTED", 81920, 640, 128, (640, 128))],
    "mobilenet": [_conv(2304, 3, 8, 3),
                  _op("DEPTHWISE_CONV_2D", 165888, 18432, 18432, (1, 3, 3, 8)),
                  _conv(2304, 8, 16, 1), _op("AVERAGE_POOL_2D", 0, 256, 2304),
                  _op("FULLY_CONNECTED", 512, 2, 256, (2, 256)), _op("SOFTMAX", 0, 2, 2)],
}


def _document(model: str, *, board: str = "qemu_mps2_an386", source: str = "emulated",
              kernels: str = "cmsis-nn", copy: int = 0) -> dict:
    ops = [o.__class__(**{**o.__dict__, "cycles": _true_cost(o)}) for o in MODELS[model]]
    return {
        "format": FORMAT_VERSION, "path": f"run{copy}/profiles/{model}.json", "board_def": board,
        "kernels": kernels, "core": "cortex-m4f", "counter": "systick-icount",
        "unit": "instructions", "source": source, "model": model, "variant": "as-is",
        "model_sha256": f"sha-{model}", "model_file": f"{model}.tflite",
        "unprofiled_per_inference": sum(o.cycles for o in ops) + BETWEEN * len(ops),
        "ops": [{"index": i, "op": o.op, "dtype": o.dtype, "macs": o.macs,
                 "output_elements": o.output_elements, "input_elements": o.input_elements,
                 "kernel_shape": list(o.kernel_shape), "stride": list(o.stride),
                 "cycles": o.cycles, "share": 0.0} for i, o in enumerate(ops)]}


def _profiles(*models: str, **kw) -> list[ProfiledModel]:
    return [ProfiledModel.of(_document(m, **kw)) for m in models]


def test_the_fit_recovers_the_costs_that_made_the_counts() -> None:
    cal = fit_calibration(_profiles("resnet", "dscnn", "autoencoder"), PRIOR)
    assert cal.mac_law[0] * FACTOR["FULLY_CONNECTED"] > 0
    for kind in ("CONV_2D/kxk", "CONV_2D/1x1", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        cost = cal.kinds[kind]
        law_factor = cost.per_mac / LAW[0]
        assert cost.per_tap / LAW[1] == pytest.approx(law_factor)
        assert cost.per_output / LAW[2] == pytest.approx(law_factor)
        # every MAC kind keeps its ratio to the others, whatever scale the shared law took
        assert law_factor / (cal.kinds["FULLY_CONNECTED"].per_mac / LAW[0]) == \
            pytest.approx(FACTOR[kind] / FACTOR["FULLY_CONNECTED"], rel=1e-6)
    assert cal.between_ops == pytest.approx(BETWEEN)
    unseen = [ProfiledModel.of(_document("mobilenet"))][0]
    assert cal.predict(unseen.ops, PRIOR) == pytest.approx(unseen.unprofiled, rel=1e-6)


def test_leave_one_model_out_names_what_only_the_left_out_model_has() -> None:
    cal = fit_calibration(_profiles("resnet", "dscnn", "autoencoder", "mobilenet"), PRIOR)
    folds = {f.model: f for f in cal.models}
    assert set(folds) == {f"{m}/as-is" for m in MODELS}
    # every kind of the mobilenet is in another model: predicted exactly without it
    assert folds["mobilenet/as-is"].unseen_kinds == ()
    assert folds["mobilenet/as-is"].error_pct == pytest.approx(0.0, abs=1e-6)
    assert folds["resnet/as-is"].unseen_kinds == ("ADD",)
    assert cal.lomo_max_abs_pct == max(abs(f.error_pct) for f in cal.models)


@pytest.mark.parametrize(("models", "kw", "says"), [
    (("dscnn", "dscnn", "dscnn"), {}, "all 3 profiles are of one model (dscnn/as-is)"),
    (("dscnn", "resnet"), {}, "too few models: 2 (dscnn/as-is, resnet/as-is)"),
    (("dscnn", "resnet", "autoencoder"), {"source": "simulated"}, "is simulated"),
    ((), {}, "no per-layer profiles"),
])
def test_too_little_or_unusable_data_is_refused_with_the_reason(models, kw, says: str) -> None:
    profiles = [ProfiledModel.of(_document(m, copy=i, **kw)) for i, m in enumerate(models)]
    with pytest.raises(CalibrationError) as caught:
        fit_calibration(profiles, PRIOR)
    assert says in str(caught.value)


def test_profiles_of_two_boards_are_not_mixed() -> None:
    profiles = _profiles("resnet", "dscnn") + _profiles("autoencoder", board="other")
    with pytest.raises(CalibrationError, match="choose with --board"):
        fit_calibration(profiles, PRIOR)


def test_a_saved_calibration_reads_back_and_a_broken_one_names_the_file(tmp_path: Path) -> None:
    cal = fit_calibration(_profiles("resnet", "dscnn", "autoencoder"), PRIOR)
    path = save_calibration(cal, tmp_path / "qemu_mps2_an386.cmsis-nn.json")
    again = load_calibration(path)
    assert again.kinds == cal.kinds and again.models == cal.models and again.path == path
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": 1, "board": "x"}))
    with pytest.raises(ConfigError, match=r"broken.json.*kernels.*missing"):
        load_calibration(broken)


def _run_dir(tmp_path: Path, models: tuple[str, ...], **kw) -> Path:
    folder = tmp_path / "run" / "profiles"
    folder.mkdir(parents=True)
    for m in models:
        (folder / f"{m}.json").write_text(json.dumps(_document(m, **kw)))
    return folder.parent


def test_harness_calibrate_writes_it_and_prints_each_models_error(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, ("resnet", "dscnn", "autoencoder", "mobilenet"))
    out = tmp_path / "cal.json"
    result = CliRunner().invoke(main, ["calibrate", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "leave-one-model-out" in result.output and "resnet/as-is" in result.output
    assert f"calibration: {out}" in result.output
    assert load_calibration(out).board == "qemu_mps2_an386"
    as_json = CliRunner().invoke(main, ["calibrate", str(run), "--out", str(out), "--json"])
    assert json.loads(as_json.output)["models"][0]["error_pct"] is not None


def test_harness_calibrate_refuses_a_single_model_run(tmp_path: Path) -> None:
    run = _run_dir(tmp_path, ("dscnn",))
    result = CliRunner().invoke(main, ["calibrate", str(run), "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 1 and "one model (dscnn/as-is)" in result.output
    assert not (tmp_path / "c.json").exists()


def test_the_simulated_board_costs_with_its_calibration_and_says_which(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_int8_cnn(tmp_path / "cnn.tflite")
    board = find_board("nucleo_l4r5zi")
    cal = fit_calibration(_profiles("resnet", "dscnn", "autoencoder", board="nucleo_l4r5zi"),
                          PRIOR)
    monkeypatch.setattr(calibration_module, "calibrations_dir", lambda: tmp_path / "cals")
    save_calibration(cal, tmp_path / "cals" / "nucleo_l4r5zi.cmsis-nn.json")
    device = build_device(board, model, None, seed=0)
    assert device.info.counter == "model:nucleo_l4r5zi.cmsis-nn"
    info = inspect_tflite(model)
    calibrated = estimate(info, board.core, "cmsis-nn", board.clock_hz, cal)
    assert calibrated.calibration == "nucleo_l4r5zi.cmsis-nn"
    runner = device._runner                       # the device's own runner
    assert runner.cycles_per_inference == calibrated.total_cycles  # type: ignore[attr-defined]
    assert calibrated.total_cycles == pytest.approx(
        cal.predict([OpSample.of(o) for o in info.ops], PRIOR), abs=len(info.ops))
