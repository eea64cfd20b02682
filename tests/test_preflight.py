"""Pre-flight: `harness check` and the run find every bad bench before results/<run-id>/ exists."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from tiny_tflite import TinyGraph, dense_float_model

from harness.cli import main
from harness.config.bench import load_bench
from harness.errors import ConfigError
from harness.firmware.model_embed import arena_with_margin
from harness.models.tflm_host import TflmHostModel
from harness.power import monitor as monitor_registry
from harness.power.backend_params import BACKENDS, MONITOR_BACKENDS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Constructor arguments a bench's params do not set: top-level monitor keys, what the sim
# board supplies, and the backends' own seams.
_NOT_PARAMS = {"resource", "sample_rate", "supply_voltage", "activity_log", "idle_current_a",
               "marker_active_low", "supply_path", "driver_factory"}


def _check(*args: str):
    return CliRunner().invoke(main, ["check", *args], catch_exceptions=False)


def _bench(tmp_path: Path, **changes) -> Path:
    data = {"name": "t", "boards": [{"id": "nano", "board": "nano33ble", "kind": "sim"}],
            "models": [{"id": "m", "path": "m.tflite"}],
            "modes": {"performance": {"warmups": 0, "runs": 2}}}
    data.update(changes)
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def dense(tmp_path: Path) -> Path:
    """A 4 -> 3 float model beside the bench file (m.tflite)."""
    rng = np.random.default_rng(0)
    return dense_float_model(tmp_path / "m.tflite", rng.normal(size=(3, 4)).astype(np.float32),
                             np.zeros(3, np.float32))


# -- the backend table -------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_params_schema_is_what_its_constructor_takes(name: str) -> None:
    importlib.import_module(BACKENDS[name].module)
    factory = monitor_registry._MONITORS[name]
    signature = inspect.signature(factory)
    takes = {p: v.default for p, v in signature.parameters.items() if p not in _NOT_PARAMS}
    fields = BACKENDS[name].params.model_fields
    assert set(fields) == set(takes), f"{name}: the schema and the constructor differ"
    for key in set(takes) & set(fields):
        assert fields[key].default == takes[key], f"{name}.{key}: defaults differ"


def test_the_bench_schema_takes_exactly_the_backends_in_the_registry(tmp_path: Path) -> None:
    assert MONITOR_BACKENDS.names()[:len(BACKENDS)] == list(BACKENDS)
    bench = _bench(tmp_path, monitors=[{"id": "mon", "backend": "no-such", "powers": "nano"}])
    with pytest.raises(ConfigError, match=r"monitors\[0\]\.backend: no power monitor backend "
                       r"'no-such' \(known: sim, joulescope, "):
        load_bench(bench)


# -- monitors ----------------------------------------------------------------------------

def test_a_misspelt_monitor_param_fails_check_with_file_field_and_the_allowed_keys(
        tmp_path: Path, dense: Path) -> None:
    bench = _bench(tmp_path, monitors=[{"id": "mon", "backend": "sim", "powers": "nano",
                                        "params": {"noise": 0.001, "sede": 1}}])
    result = _check(str(bench))
    assert result.exit_code == 2, result.output
    for key in ("noise", "sede"):  # each on its own line
        assert (f"error: {bench}:monitors[0].params.{key}: unknown key (backend sim takes: "
                "noise_a, seed, glitches, disconnect_rate, disconnect_after_s)\n"
                in result.output)


def test_a_param_of_the_wrong_type_names_its_field(tmp_path: Path, dense: Path) -> None:
    bench = _bench(tmp_path, monitors=[{"id": "mon", "backend": "sim", "powers": "nano",
                                        "params": {"noise_a": "lots"}}])
    result = _check(str(bench))
    assert result.exit_code == 2
    assert f"{bench}:monitors[0].params.noise_a: Input should be a valid number" in result.output


def test_an_instrument_checks_its_own_params(tmp_path: Path, dense: Path) -> None:
    bench = _bench(tmp_path, boards=[{"id": "nano", "board": "nano33ble"}],
                   monitors=[{"id": "k", "backend": "scpi-keithley2450", "powers": "nano",
                              "params": {"marker_input": True}}])
    result = _check(str(bench))
    assert result.exit_code == 2
    assert (f"{bench}:monitors[0].params.marker_input: Keithley 2450 SourceMeter (buffered "
            "readings) has no marker input") in result.output
    assert f"{bench}:monitors[0].resource: backend scpi-keithley2450 needs" in result.output


@pytest.mark.parametrize(("board", "backend", "expected"), [
    ({"id": "nano", "board": "nano33ble"}, "sim", "is a hardware board: use an instrument"),
    ({"id": "nano", "board": "nano33ble", "kind": "sim"}, "ppk2", "a ppk2 cannot measure it"),
])
def test_a_monitor_must_be_able_to_measure_its_board(tmp_path: Path, dense: Path, board: dict,
                                                     backend: str, expected: str) -> None:
    bench = _bench(tmp_path, boards=[board], modes={"energy": {"windows": 2}},
                   monitors=[{"id": "mon", "backend": backend, "powers": "nano"}])
    result = _check(str(bench))
    assert result.exit_code == 2
    assert f"{bench}:monitors[0].backend:" in result.output and expected in result.output


def test_the_lab_bench_warns_that_usb_powers_the_boards_and_says_what_to_do(
        mlperf_dir: Path) -> None:
    result = _check(str(EXAMPLES / "lab-bench.yaml"), "--mlperf-dir", str(mlperf_dir))
    assert result.exit_code == 0, result.output
    assert "ok — 3 boards, 2 monitors" in result.output
    nano = next(line for line in result.output.splitlines()
                if line.startswith("warning:") and "monitors[1].powers" in line)
    assert "monitor ppk2 powers 'nano33ble'" in nano
    assert "energy_link (isolator on D0/D1 (Serial1, UART0))" in nano
    assert "cut VBUS" in nano
    assert "no monitor powers 'esp32'" in result.output  # energy mode, but nothing measures it


def test_a_simulated_board_gets_no_usb_power_warning(tmp_path: Path, dense: Path) -> None:
    bench = _bench(tmp_path, monitors=[{"id": "mon", "backend": "sim", "powers": "nano"}])
    result = _check(str(bench))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_a_missing_vendor_package_is_named_with_its_extra(monkeypatch, mlperf_dir: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyjoulescope_driver", None)  # as if not installed
    result = _check(str(EXAMPLES / "lab-bench.yaml"), "--mlperf-dir", str(mlperf_dir))
    assert result.exit_code == 2
    assert ("lab-bench.yaml:monitors[0].backend: backend joulescope needs package "
            "pyjoulescope-driver: pip install 'tinyml-harness[instruments]'") in result.output
    assert "ppk2 needs" not in result.output  # pyserial is a core dependency


def test_check_imports_no_vendor_library(mlperf_dir: Path) -> None:
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom harness.cli import main\n"
             f"r = CliRunner().invoke(main, ['check', {str(EXAMPLES / 'lab-bench.yaml')!r}, "
             f"'--mlperf-dir', {str(mlperf_dir)!r}])\n"
             "print(r.exit_code, sorted(m for m in ('pyjoulescope_driver', 'otii_tcp_client', "
             "'pyvisa') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.split("\n")[-2] == "0 []"


# -- models ------------------------------------------------------------------------------

def _wide_model(path: Path, units: int) -> Path:
    """1x4 -> 1x``units`` float: weights for the flash, a wide activation for the arena."""
    rng = np.random.default_rng(1)
    return dense_float_model(path, rng.normal(size=(units, 4)).astype(np.float32),
                             np.zeros(units, np.float32))


def test_a_model_too_big_for_the_board_fails_with_the_numbers(tmp_path: Path) -> None:
    model = _wide_model(tmp_path / "m.tflite", 70_000)  # 1.4 MB of weights, 280 kB output
    size = model.stat().st_size
    arena = arena_with_margin(TflmHostModel.load(model).arena_used_bytes)
    bench = _bench(tmp_path, boards=[{"id": "nano", "board": "nano33ble", "kind": "sim"},
                                     {"id": "l4r5", "board": "nucleo_l4r5zi", "kind": "sim"}])
    result = _check(str(bench))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 2, result.output  # the L4R5ZI (2 MB flash, 640 kB RAM) is big enough
    flash, ram = lines
    assert f"{bench}:models[0].path: variant as-is on board 'nano'" in flash
    assert f"the model is {size:,} bytes, more than nano33ble's flash (983,040 bytes)" in flash
    assert f"TFLM arena is {arena:,} bytes" in ram
    assert "more than nano33ble's RAM (262,144 bytes)" in ram


def test_an_op_the_firmware_cannot_register_is_named(tmp_path: Path) -> None:
    g = TinyGraph()
    x = g.tensor((1, 4), "float32")
    h = g.tensor((1, 4), "float32")
    y = g.tensor((1, 4), "float32")
    g.op("HASHTABLE", [x], [h])
    g.op("CUSTOM:MyOp", [h], [y])
    g.write(tmp_path / "m.tflite", [x], [y])
    result = _check(str(_bench(tmp_path)))
    assert result.exit_code == 2
    assert ("m.tflite: the firmware's op resolver cannot register CUSTOM:MyOp, HASHTABLE"
            in result.output)


def test_an_unloadable_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(b"not a model at all")
    result = _check(str(_bench(tmp_path)))
    assert result.exit_code == 2
    assert "models[0].path: variant as-is:" in result.output
    assert "not a TFLite flatbuffer" in result.output


def test_a_missing_model_is_an_error_and_an_optional_one_a_note(tmp_path: Path) -> None:
    result = _check(str(_bench(tmp_path)))
    assert result.exit_code == 2
    assert "m.tflite not found" in result.output
    optional = _check(str(_bench(tmp_path, models=[{"id": "m", "path": "m.tflite",
                                                    "optional": True}])))
    assert optional.exit_code == 0, optional.output
    assert "note:" in optional.output and "skipped" in optional.output


# -- datasets ----------------------------------------------------------------------------

def test_a_missing_npz_fails_check_with_its_path(tmp_path: Path, dense: Path) -> None:
    bench = _bench(tmp_path, models=[{"id": "m", "path": "m.tflite", "dataset": "npz:d.npz"}])
    result = _check(str(bench))
    assert result.exit_code == 2
    assert f"{bench}:models[0].dataset: npz file {tmp_path / 'd.npz'} not found" in result.output


@pytest.mark.parametrize(("arrays", "expected"), [
    ({"x": np.zeros((5, 4))}, "missing array(s) y"),
    ({"x": np.zeros((5, 7)), "y": np.zeros(5, int)}, "(7 values) do not fit the model input"),
])
def test_an_npz_must_hold_samples_that_fit_the_model(tmp_path: Path, dense: Path, arrays: dict,
                                                     expected: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    bench = _bench(tmp_path, models=[{"id": "m", "path": "m.tflite", "dataset": "npz:d.npz"}])
    result = _check(str(bench))
    assert result.exit_code == 2
    assert f"{bench}:models[0].dataset:" in result.output and expected in result.output


def test_a_fitting_npz_and_a_missing_mlperf_folder(tmp_path: Path, dense: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 4), np.float32), y=np.arange(5) % 3)
    ok = _bench(tmp_path, models=[{"id": "m", "path": "m.tflite", "dataset": "npz:d.npz"}])
    assert _check(str(ok)).exit_code == 0
    bad = _bench(tmp_path, models=[{"id": "m", "path": "m.tflite", "dataset": "mlperf:kws"}])
    result = _check(str(bad))
    assert result.exit_code == 2
    assert f"MLPerf Tiny dataset folder {tmp_path / 'kws'} not found" in result.output


# -- the run and the CLI's printing ------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"monitors": [{"id": "mon", "backend": "sim", "powers": "nano", "params": {"noise": 1}}]},
    {"models": [{"id": "m", "path": "m.tflite", "dataset": "npz:absent.npz"}]},
    {"boards": [{"id": "nano", "board": "nano33ble", "kind": "sim"}],
     "models": [{"id": "m", "path": "wide.tflite"}]},
])
def test_a_run_stops_in_pre_flight_and_writes_nothing(tmp_path: Path, dense: Path,
                                                      changes: dict) -> None:
    _wide_model(tmp_path / "wide.tflite", 70_000)
    bench = _bench(tmp_path, **changes)
    result = CliRunner().invoke(main, ["run", str(bench), "--results-dir",
                                       str(tmp_path / "results")])
    assert result.exit_code == 2, result.output
    assert f"error: {bench}:" in result.output
    assert not (tmp_path / "results").exists()


def test_error_text_is_printed_literally_never_as_markup(tmp_path: Path, dense: Path) -> None:
    bench = _bench(tmp_path, monitors=[{"id": "mon", "backend": "sim", "powers": "nano",
                                        "params": {"[bold]x[/]": 1}}])
    result = _check(str(bench))
    assert result.exit_code == 2
    assert "monitors[0].params.[bold]x[/]: unknown key" in result.output
    # a ConfigError from loading (printed by the command group): "[/]" alone used to raise
    path = tmp_path / "bad.yaml"
    path.write_text(bench.read_text() + "'[/]': 1\n")
    loaded = _check(str(path))
    assert loaded.exit_code == 2
    assert f"error: {path}:[/]: unknown key" in loaded.output
