"""Board definitions and bench files: valid ones load, bad ones name file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.config.bench import load_bench
from harness.config.board import all_boards, boards_dir, find_board, load_board
from harness.errors import ConfigError
from harness.plan import plan_jobs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_every_board_definition_loads_and_matches_its_file_name():
    boards = all_boards()
    assert {b.id for b in boards} >= {"nano33ble", "esp32dev", "nucleo_l4r5zi",
                                      "nucleo_f746zg", "qemu_mps2_an386"}
    l4 = find_board("nucleo_l4r5zi")
    assert (l4.core, l4.clock_hz, l4.memory.ram_bytes) == ("cortex-m4f", 120_000_000, 655_360)


@pytest.mark.parametrize("name", ["sim-bench.yaml", "lab-bench.yaml"])
def test_example_benches_validate(name):
    bench = load_bench(EXAMPLES / name)
    assert bench.spec.boards


def test_sim_override_applies_to_the_board_definition():
    bench = load_bench(EXAMPLES / "sim-bench.yaml")
    assert {b.kind for b in bench.boards.values()} == {"sim"}


def _write_bench(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((EXAMPLES / "sim-bench.yaml").read_text())
    mutate(data)
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda d: d["boards"][0].update(colour="red"), "boards[0].colour", "unknown key"),
        (lambda d: d["boards"][1].update(board="nucleo_h7"), "boards[1].board", "unknown board"),
        (lambda d: d["modes"]["performance"].update(runs="many"), "modes.performance.runs",
         "integer"),
        (lambda d: d["monitors"][0].update(powers="nowhere"), "monitors[0].powers",
         "no bench board"),
        (lambda d: d["monitors"][0].update(backend="multimeter"), "monitors[0].backend",
         "no power monitor backend 'multimeter' (known: sim, "),
        (lambda d: d["models"].append(dict(d["models"][0])), "models[3].id", "duplicate id"),
        (lambda d: d.pop("boards"), "boards", "required key is missing"),
        (lambda d: d.update(modes={}), "modes", "enable at least one"),
        (lambda d: d["boards"][0].update(kind="qemu"), "boards[0].kind", "only 'sim'"),
        (lambda d: d["boards"][0].update(kind="fpga"), "boards[0].kind",
         "no board driver 'fpga' (known: hardware, qemu, sim"),
        (lambda d: d["boards"][0].update(params={"gain": 2}), "boards[0].params.gain",
         "unknown key"),
        (lambda d: d.update(variants=["as-is", "prunned-0.5-int8"]), "variants[1]",
         "unknown variant 'prunned-0.5-int8'"),
    ],
)
def test_bad_bench_names_file_and_field(tmp_path, mutate, field, message):
    path = _write_bench(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    assert info.value.path == str(path)
    assert info.value.field == field
    assert message in info.value.message


def test_duplicate_yaml_key_is_rejected_with_its_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError, match=r"line 2.*duplicate key 'name'"):
        load_bench(path)


def test_missing_bench_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_bench(tmp_path / "absent.yaml")


def test_board_file_with_wrong_type_names_the_field(tmp_path):
    data = yaml.safe_load((boards_dir() / "nano33ble.yaml").read_text())
    data["clock_hz"] = "fast"
    path = tmp_path / "nano33ble.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_board(path)
    assert info.value.field == "clock_hz"


def test_board_id_must_match_file_name(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text((boards_dir() / "nano33ble.yaml").read_text())
    with pytest.raises(ConfigError, match="must match the file name"):
        load_board(path)


def test_a_models_own_variants_override_the_benchs(tmp_path):
    def mutate(d):
        d["models"][0]["variants"] = ["as-is", "int8"]
        d["variants"] = ["as-is"]

    bench = load_bench(_write_bench(tmp_path, mutate))
    keys = {j.key for j in plan_jobs(bench) if j.board.id == "l4r5zi"}
    assert keys == {"l4r5zi/digits-cnn/as-is", "l4r5zi/digits-cnn/int8",
                    "l4r5zi/ic-resnet8/as-is", "l4r5zi/kws-dscnn/as-is"}


def test_a_misspelt_model_variant_names_its_model(tmp_path):
    path = _write_bench(tmp_path, lambda d: d["models"][1].update(variants=["int7"]))
    with pytest.raises(ConfigError) as info:
        load_bench(path)
    assert info.value.field == "models[1].variants[0]"
