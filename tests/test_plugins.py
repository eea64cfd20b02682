"""Extensions without forks: a lab's own distribution adds a power-monitor backend, a
board driver and a dataset adapter through entry points.

The distribution is real: a package and its ``.dist-info`` (METADATA, entry_points.txt)
on sys.path, found by importlib.metadata as pip's installs are. Nothing in the harness's
registries is patched.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from harness.boards.driver import BOARD_DRIVERS, LinkHint, create_driver
from harness.cli import main
from harness.config.bench import load_bench
from harness.config.board import load_board
from harness.errors import BoardError, ConfigError, HarnessError, MeasurementError, ModelError
from harness.models.datasets import DATASET_ADAPTERS, load_dataset
from harness.power.backend_params import MONITOR_BACKENDS
from harness.power.monitor import create_monitor

BOARDS = Path(__file__).resolve().parents[1] / "boards"

INFO = '''
from pydantic import BaseModel, ConfigDict

from harness.boards.driver import DriverInfo
from harness.models.datasets import DatasetAdapterInfo, Dataset
from harness.power.backend_params import BackendInfo
import numpy as np


class MeterParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gain: float = 1.0


class RigParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    relay: int


def _ramp(request):
    n = int(request.arg or 4)
    return Dataset(name="ramp", task="classification",
                   x=np.arange(n * 2, dtype="f4").reshape(n, 2), y=np.arange(n) % 2,
                   description=f"{n} ramp samples")


METER = BackendInfo("labext.meter", "Lab shunt meter", MeterParams)
RIG = DriverInfo("labext.rig", "lab relay rig", RigParams)
RAMP = DatasetAdapterInfo(_ramp, "a ramp", "<n>")
NOT_AN_INFO = "a string"
'''

METER = '''
from harness.power.monitor import register_monitor


class Meter:
    def __init__(self, gain=1.0, resource=None, sample_rate=1000.0, supply_voltage=None):
        self.gain = gain

    def close(self):
        pass


register_monitor("lab-meter")(Meter)
'''

RIG = '''
from harness.boards.driver import register_driver


class Rig:
    source = "measured"

    def __init__(self, board, link):
        self.board, self.params = board, dict(link.params)


@register_driver("lab-rig")
def _create(board, workdir, link):
    return Rig(board, link)
'''

ENTRY_POINTS = """
[tinyml_harness.monitors]
lab-meter = labext.info:METER
sim = labext.info:METER
[tinyml_harness.boards]
lab-rig = labext.info:RIG
lab-broken = labext.missing:RIG
[tinyml_harness.datasets]
ramp = labext.info:RAMP
odd = labext.info:NOT_AN_INFO
"""


@pytest.fixture(scope="module")
def lab_dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The distribution ``labext`` installed on sys.path for this module's tests."""
    root = tmp_path_factory.mktemp("site")
    package = root / "labext"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in (("info", INFO), ("meter", METER), ("rig", RIG)):
        (package / f"{name}.py").write_text(textwrap.dedent(text))
    dist_info = root / "labext-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: labext\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    yield root
    sys.path.remove(str(root))
    importlib.invalidate_caches()


def test_without_the_distribution_only_the_builtins_are_known() -> None:
    assert "lab-meter" not in MONITOR_BACKENDS.names()
    assert BOARD_DRIVERS.names() == ["hardware", "qemu", "sim"]
    with pytest.raises(ModelError, match=r"unknown dataset reference 'ramp:3' \(known: digits, "):
        load_dataset("ramp:3")


def test_each_kind_lists_the_plugins_names(lab_dist: Path) -> None:
    assert MONITOR_BACKENDS.names()[-1] == "lab-meter"
    assert BOARD_DRIVERS.names() == ["hardware", "qemu", "sim", "lab-broken", "lab-rig"]
    assert "ramp" in DATASET_ADAPTERS.names() and "odd" in DATASET_ADAPTERS.names()
    assert MONITOR_BACKENDS.get("lab-meter").label == "Lab shunt meter"
    assert BOARD_DRIVERS.get("lab-rig").label == "lab relay rig"
    listed = [" ".join(line.split()) for line in
              CliRunner().invoke(main, ["boards"]).output.splitlines()]
    assert "lab-rig lab relay rig" in listed
    assert any(line.startswith("lab-broken cannot be loaded: entry point") for line in listed)


def test_a_plugin_monitor_validates_in_a_bench_and_opens(lab_dist: Path, tmp_path: Path) -> None:
    bench = tmp_path / "bench.yaml"
    bench.write_text(yaml.safe_dump({
        "name": "lab", "boards": [{"id": "b", "board": "nucleo_l4r5zi"}],
        "monitors": [{"id": "m", "backend": "lab-meter", "powers": "b",
                      "params": {"gian": 2}}],
        "models": [{"id": "x", "path": "x.tflite"}], "modes": {"energy": {}}}))
    load_bench(bench)  # the name is known
    result = CliRunner().invoke(main, ["check", str(bench)])
    assert "monitors[0].params.gian: unknown key (backend lab-meter takes: gain)" in \
        result.output, result.output
    monitor = create_monitor("lab-meter", gain=2.0)
    assert type(monitor).__module__ == "labext.meter" and monitor.gain == 2.0


def test_a_plugin_cannot_take_a_builtin_name(lab_dist: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="harness.plugins"):
        assert MONITOR_BACKENDS.names().count("sim") == 1
        assert MONITOR_BACKENDS.get("sim").module == "harness.power.sim_monitor"
    assert "entry point 'sim' in tinyml_harness.monitors (labext.info:METER) is ignored" in \
        caplog.text


def test_a_board_family_is_a_yaml_naming_a_plugin_driver(lab_dist: Path, tmp_path: Path) -> None:
    board_file = tmp_path / "lab_rig_f4.yaml"
    data = yaml.safe_load((BOARDS / "nucleo_l4r5zi.yaml").read_text())
    data.update(id="lab_rig_f4", kind="lab-rig")
    board_file.write_text(yaml.safe_dump(data))
    board = load_board(board_file)
    bench = tmp_path / "bench.yaml"
    bench.write_text(yaml.safe_dump({
        "name": "lab", "boards": [{"id": "b", "board": "lab_rig_f4", "params": {"relay": 3}}],
        "models": [{"id": "x", "path": "x.tflite"}], "modes": {"performance": {}}}))
    assert load_bench(bench, tmp_path).boards["b"].kind == "lab-rig"
    driver = create_driver(board, tmp_path, LinkHint(params={"relay": 3}))
    assert type(driver).__module__ == "labext.rig" and driver.params == {"relay": 3}
    bench.write_text(bench.read_text().replace("relay: 3", "relay: three"))
    with pytest.raises(ConfigError, match=r"boards\[0\]\.params\.relay: .*integer"):
        load_bench(bench, tmp_path)


def test_an_unknown_kind_in_a_board_file_names_file_field_and_the_known_kinds(
        tmp_path: Path) -> None:
    data = yaml.safe_load((BOARDS / "nucleo_l4r5zi.yaml").read_text())
    data.update(id="odd", kind="fpga")
    (tmp_path / "odd.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"odd\.yaml:kind: no board driver 'fpga' "
                                          r"\(known: hardware, qemu, sim"):
        load_board(tmp_path / "odd.yaml")


def test_a_plugin_dataset_loads_by_its_scheme(lab_dist: Path) -> None:
    data = load_dataset("ramp:3")
    assert data.name == "ramp" and len(data) == 3
    np.testing.assert_array_equal(data.x[2], [4.0, 5.0])


def test_broken_plugins_say_which_entry_point_and_why(lab_dist: Path, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"entry point 'lab-broken' in tinyml_harness\.boards "
                       r"\(labext\.missing:RIG\) cannot be loaded: ModuleNotFoundError"):
        BOARD_DRIVERS.get("lab-broken")
    board = load_board(BOARDS / "nucleo_l4r5zi.yaml").model_copy(update={"kind": "lab-broken"})
    with pytest.raises(BoardError, match="lab-broken"):
        create_driver(board, tmp_path)
    with pytest.raises(ModelError, match=r"entry point 'odd' .* is a str, not the "
                       r"DatasetAdapterInfo a dataset adapter registers"):
        load_dataset("odd")
    with pytest.raises(MeasurementError, match=r"no power monitor backend 'nope' \(known: "
                       r"sim, .*, lab-meter\)"):
        create_monitor("nope")
