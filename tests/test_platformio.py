"""The PlatformIO project: environments and board files agree; a missing platform, with
the registry not answering (conftest: a refused port), fails in milliseconds with what to
install, instead of `pio run`'s minute of retries. Installing: test_platformio_install.py."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from harness.config.board import all_boards
from harness.errors import BoardError
from harness.firmware.pio_project import build_firmware, project_envs
from harness.firmware.platformio import (
    installed_platforms,
    pio_executable,
    read_envs,
    require_platform,
)


def test_every_platformio_board_has_an_env_and_every_env_a_board() -> None:
    boards = {b.build.env: b for b in all_boards() if b.build.system == "platformio"}
    envs = project_envs()
    assert set(envs) == set(boards)
    for name, env in envs.items():
        assert boards[name].kind == "hardware"
        assert env.platform_version, f"{name}: the platform version must be pinned"


def test_envs_pin_their_tflm_source() -> None:
    envs = project_envs()
    assert "tflite-micro-arduino-examples.git#7948b85e0204" in envs["nano33ble"].options["lib_deps"]
    for stm32 in ("nucleo_l4r5zi", "nucleo_f746zg"):
        flags = envs[stm32].options["build_flags"]
        assert "-DCMSIS_NN" in flags and envs[stm32].options["custom_tflm_arch"].endswith("+fp")
    manifest = (Path(__file__).parents[1] / "firmware/src/idf_component.yml").read_text()
    assert 'esp-tflite-micro:\n    version: "==1.3.8"' in manifest
    assert 'esp-nn:\n    version: "==1.2.3"' in manifest


def test_read_envs_merges_defaults_and_splits_the_platform_pin(tmp_path: Path) -> None:
    ini = tmp_path / "platformio.ini"
    ini.write_text("[env]\nbuild_flags = -DA ; comment\nframework = arduino\n\n"
                   "[env:one]\nplatform = platformio/ststm32@19.6.0\nboard = b1\n\n"
                   "[env:two]\nplatform = ststm32\nboard = b2\nframework = stm32cube\n")
    envs = read_envs(ini)
    assert (envs["one"].platform, envs["one"].platform_version, envs["one"].framework) == \
        ("ststm32", "19.6.0", "arduino")
    assert envs["one"].options["build_flags"] == "-DA"
    assert (envs["two"].platform_spec, envs["two"].framework) == ("ststm32", "stm32cube")
    ini.write_text("[env:bad]\nboard = x\n")
    with pytest.raises(BoardError, match=r"\[env:bad\] has no platform, framework"):
        read_envs(ini)


def _fake_core(tmp_path: Path, platforms: dict[str, str]) -> Path:
    core = tmp_path / "core"
    for name, version in platforms.items():
        folder = core / "platforms" / name
        folder.mkdir(parents=True)
        (folder / "platform.json").write_text(json.dumps({"name": name, "version": version}))
    return core


def test_installed_platforms_are_read_from_the_core_folder(tmp_path: Path) -> None:
    core = _fake_core(tmp_path, {"ststm32": "19.6.0", "espressif32": "6.12.0"})
    assert installed_platforms(core) == {"espressif32": {"6.12.0"}, "ststm32": {"19.6.0"}}
    envs = project_envs()
    require_platform(envs["nucleo_f746zg"], core)  # installed at the pinned version
    with pytest.raises(BoardError, match=r"installed at 6\.12\.0, not at the pinned 6\.13\.0"):
        require_platform(envs["esp32dev"], core)
    with pytest.raises(BoardError, match=r"nordicnrf52@10\.11\.0 is not installed"):
        require_platform(envs["nano33ble"], core)


@pytest.mark.parametrize("env", ["nano33ble", "esp32dev", "nucleo_l4r5zi", "nucleo_f746zg"])
def test_build_without_the_platform_fails_at_once_with_the_install_command(
        env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The point: no `pio run` (a minute of registry retries here), no model or TFLM work."""
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "empty-core"))
    spec = project_envs()[env].platform_spec
    started = time.monotonic()
    with pytest.raises(BoardError) as failed:
        build_firmware(env, tmp_path / "not-even-read.tflite")
    assert time.monotonic() - started < 5.0
    message = str(failed.value)
    assert f"{spec} is not installed" in message
    assert f"pio pkg install -g -p {spec}" in message
    assert f"pio pkg install -d firmware -e {env}" in message
    assert "registry did not answer within 3 s" in message and "Connection refused" in message


def test_pio_parses_the_project_file() -> None:
    """PlatformIO itself (the venv's) reads platformio.ini as we do: no network needed."""
    run = subprocess.run([str(pio_executable()), "project", "config", "-d",
                          str(Path(__file__).parents[1] / "firmware"), "--json-output"],
                         capture_output=True, text=True, timeout=60, check=True)
    sections = dict(json.loads(run.stdout))
    assert {s[4:] for s in sections if s.startswith("env:")} == set(project_envs())
