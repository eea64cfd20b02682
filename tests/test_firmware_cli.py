"""`harness build` and `harness flash` on the command line."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def test_build_for_a_board_without_its_platform_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlperf_dir: Path) -> None:
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path))
    code, text = _run("build", "--board", "nucleo_l4r5zi", "--model",
                      str(mlperf_dir / "ic01_int8.tflite"))
    assert code == 1
    assert "pio pkg install -g -p ststm32@19.6.0" in text


def test_unknown_model_and_board_are_named() -> None:
    code, text = _run("build", "--board", "nano33ble", "--model", "nowhere/model.tflite")
    assert code == 1 and "nowhere/model.tflite not found" in text
    code, text = _run("build", "--board", "uno", "--model", "x.tflite")
    assert code == 2 and "unknown board 'uno'" in text


def test_emulated_board_is_not_flashed() -> None:
    code, text = _run("flash", "--board", "qemu_mps2_an386", "--port", "/dev/null")
    assert code == 1 and "is not flashed" in text


def test_qemu_build_without_tflm_points_to_tflm_dir(monkeypatch: pytest.MonkeyPatch,
                                                    mlperf_dir: Path) -> None:
    monkeypatch.delenv("TFLM_DIR", raising=False)
    code, text = _run("build", "--board", "qemu_mps2_an386", "--model",
                      str(mlperf_dir / "kws01_int8.tflite"))
    assert code == 1
    assert "TFLM_DIR is not set" in text
    assert "git clone https://github.com/tensorflow/tflite-micro" in text


@pytest.mark.skipif(not os.environ.get("TFLM_DIR") or not shutil.which("arm-none-eabi-g++"),
                    reason="TFLM_DIR is not set (a tflite-micro checkout; docs/firmware.md)")
def test_qemu_build_reports_the_image_and_its_sizes(mlperf_dir: Path) -> None:
    code, text = _run("build", "--board", "qemu_mps2_an386", "--model",
                      str(mlperf_dir / "kws01_int8.tflite"))
    assert code == 0, text
    assert re.search(r"firmware/qemu/build/tflm-[0-9a-f]{16}/fw\.elf", text)
    flash = int(re.search(r"flash ([\d,]+) of", text)[1].replace(",", ""))
    ram = int(re.search(r"RAM ([\d,]+) of", text)[1].replace(",", ""))
    model_bytes = (mlperf_dir / "kws01_int8.tflite").stat().st_size
    assert model_bytes < flash < model_bytes + 200_000  # the model plus TFLM and the core
    arena = int(re.search(r"arena ([\d,]+) B", text)[1].replace(",", ""))
    assert arena < ram
