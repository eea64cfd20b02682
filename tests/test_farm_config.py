"""Bench keys of a farm (boards[].place, coordinator, history) and where their values come
from; each error names the file and the field. No processes: milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.config.bench import load_bench
from harness.errors import ConfigError
from harness.farm.coordinator import coordinator_address
from harness.results.history import history_target

BOARD = {"id": "l4", "board": "nucleo_l4r5zi", "kind": "sim", "firmware": "preflashed"}


def _write(tmp_path: Path, **changes) -> Path:
    bench = {"name": "farm", "boards": [BOARD], "models": [{"id": "m", "path": "m.tflite"}],
             "modes": {"performance": {}}, **changes}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench))
    return path


def test_a_place_board_needs_no_port(tmp_path):
    bench = load_bench(_write(tmp_path, boards=[{**BOARD, "place": "p1"}]))
    assert bench.spec.boards[0].place == "p1"
    # for --farm, the bench's coordinator is enough
    assert load_bench(_write(tmp_path, coordinator="lab:20408")).spec.coordinator == "lab:20408"


@pytest.mark.parametrize("changes, field, words", [
    ({"boards": [BOARD]}, "boards[0].port", "or its labgrid place"),
    ({"boards": [{**BOARD, "place": "p1", "port": "/dev/ttyACM0"}]}, "boards[0].port",
     "its link is the place's serial port"),
    ({"boards": [{**BOARD, "place": "p 1"}]}, "boards[0].place", "pattern"),
    ({"boards": [{**BOARD, "place": "p1"}],
      "monitors": [{"id": "m", "backend": "sim", "powers": "l4"}]},
     "monitors[0].backend", "'l4' is in labgrid place 'p1'"),
])
def test_bad_farm_keys_name_the_field(tmp_path, changes, field, words):
    with pytest.raises(ConfigError) as caught:
        load_bench(_write(tmp_path, **changes))
    assert caught.value.field == field and words in caught.value.message


def test_coordinator_from_option_then_bench_then_environment(monkeypatch):
    monkeypatch.setenv("LG_COORDINATOR", "env-host")
    assert coordinator_address("cli:1234", "bench:1") == "cli:1234"
    assert coordinator_address(None, "bench") == "bench:20408"
    assert coordinator_address(None, None) == "env-host:20408"
    assert coordinator_address("[::1]", None) == "[::1]:20408"
    monkeypatch.delenv("LG_COORDINATOR")
    with pytest.raises(ConfigError, match="LG_COORDINATOR"):
        coordinator_address(None, None)


def test_history_from_option_then_bench_then_environment(tmp_path, monkeypatch):
    url = "postgresql://ci@db/harness"
    bench = load_bench(_write(tmp_path, history="runs/history.sqlite", coordinator="lab"))
    monkeypatch.setenv("HARNESS_HISTORY", url)
    default = tmp_path / "results" / "history.sqlite"
    assert history_target("other.sqlite", bench, default) == Path("other.sqlite")
    assert history_target(url, bench, default) == url
    assert history_target(None, bench, default) == tmp_path / "runs" / "history.sqlite"
    assert history_target(None, None, default) == url
    monkeypatch.delenv("HARNESS_HISTORY")
    assert history_target(None, None, default) == default
