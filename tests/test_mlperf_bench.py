"""Bench keys for MLPerf Tiny DUTs: boards[].protocol and boards[].firmware."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.config.bench import load_bench
from harness.errors import ConfigError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _bench(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((EXAMPLES / "sim-bench.yaml").read_text())
    mutate(data)
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_protocol_and_firmware_default_to_the_harness_building_its_own(tmp_path: Path) -> None:
    bench = load_bench(_bench(tmp_path, lambda d: None))
    assert {(b.protocol, b.firmware) for b in bench.spec.boards} == {("harness", "build")}


def test_an_mlperf_sim_board_validates(tmp_path: Path) -> None:
    bench = load_bench(_bench(tmp_path, lambda d: d["boards"][0].update(protocol="mlperf")))
    assert bench.spec.boards[0].protocol == "mlperf"


def _preflashed_mlperf(d: dict) -> None:
    d["boards"][0].update(protocol="mlperf", firmware="preflashed", port="/dev/pts/99")


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda d: d["boards"][0].update(protocol="eembc"), "boards[0].protocol",
         "'harness' or 'mlperf'"),
        (lambda d: d["boards"][1].update(firmware="flashed"), "boards[1].firmware",
         "'build' or 'preflashed'"),
        # a preflashed simulated board is not started by the harness: where is it?
        (lambda d: d["boards"][0].update(firmware="preflashed"), "boards[0].port",
         "give the port"),
        # one MLPerf firmware has one timestamp mode
        (_preflashed_mlperf, "boards[0].firmware", "one timestamp mode"),
        (lambda d: (_preflashed_mlperf(d), d.update(faults={"boards": ["l4r5zi"]})),
         "faults.boards[0]", "preflashed"),
        # the harness's firmware has no MLPerf energy mode
        (lambda d: d["boards"][1].update(protocol="mlperf", kind="hardware"),
         "boards[1].protocol", "performance mode only"),
    ],
)
def test_bad_mlperf_board_keys_name_the_field(tmp_path: Path, mutate, field: str,
                                              message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_bench(_bench(tmp_path, mutate))
    assert err.value.field == field
    assert message in err.value.message


def test_a_preflashed_mlperf_dut_may_be_measured_for_accuracy_and_energy(tmp_path: Path) -> None:
    def mutate(d: dict) -> None:
        _preflashed_mlperf(d)
        d["modes"].pop("performance")
    bench = load_bench(_bench(tmp_path, mutate))
    assert bench.spec.boards[0].firmware == "preflashed"
