"""A PlatformIO build's own copy of the project, and its content hash."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.firmware.pio_project import firmware_dir, plan_build, stage, tflm_tree

needs_tflm = pytest.mark.skipif(not os.environ.get("TFLM_DIR"),
                                reason="TFLM_DIR is not set (a tflite-micro checkout; "
                                       "docs/firmware.md, 'Getting TFLM')")


def test_the_hash_follows_the_model_and_the_arena(mlperf_dir: Path) -> None:
    kws = plan_build("nano33ble", mlperf_dir / "kws01_int8.tflite", arena_bytes=32768)
    assert plan_build("nano33ble", mlperf_dir / "kws01_int8.tflite", arena_bytes=32768) == kws
    assert plan_build("nano33ble", mlperf_dir / "kws01_int8.tflite", 65536).digest != kws.digest
    assert plan_build("nano33ble", mlperf_dir / "ic01_int8.tflite", 32768).digest != kws.digest
    other_board = plan_build("esp32dev", mlperf_dir / "kws01_int8.tflite", arena_bytes=32768)
    assert other_board.digest != kws.digest and other_board.model == kws.model
    assert kws.project.name == f"nano33ble-{kws.digest[:16]}" and kws.tree is None
    assert kws.elf == kws.project / ".pio/build/nano33ble/firmware.elf"


def test_build_flags_from_the_environment_make_another_build(mlperf_dir: Path,
                                                             monkeypatch) -> None:
    model = mlperf_dir / "kws01_int8.tflite"
    monkeypatch.delenv("PLATFORMIO_BUILD_FLAGS", raising=False)
    level = plan_build("nano33ble", model, arena_bytes=32768)
    monkeypatch.setenv("PLATFORMIO_BUILD_FLAGS", "-DHARNESS_MARKER_PULSE_US=2")
    assert plan_build("nano33ble", model, arena_bytes=32768).digest != level.digest


def test_staged_project_holds_the_firmware_and_the_model_only(mlperf_dir: Path) -> None:
    planned = plan_build("esp32dev", mlperf_dir / "ic01_int8.tflite", arena_bytes=70000 // 16 * 16)
    try:
        stage(planned)
        root = planned.project
        for name in ("platformio.ini", "CMakeLists.txt", "sdkconfig.defaults",
                     "src/app.c", "src/CMakeLists.txt", "src/idf_component.yml",
                     "src/esp32/board_esp32.c", "lib/harness_proto/src/hp_device.c",
                     "lib/runner_tflm/src/runner_tflm.cc", "scripts/harness_env.py",
                     "src/model/harness_model.h", "src/model/harness_model.cc"):
            assert (root / name).is_file(), name
        assert (root / "platformio.ini").read_bytes() == \
            (firmware_dir() / "platformio.ini").read_bytes()
        # neither the QEMU port, the host tests nor the model-free runner
        assert not any((root / p).exists() for p in ("qemu", "test", "lib/runner_checksum"))
        header = (root / "src/model/harness_model.h").read_text()
        assert "#define HARNESS_MODEL_INPUT_BYTES 3072u" in header
    finally:
        shutil.rmtree(planned.project, ignore_errors=True)


@needs_tflm
def test_stm32_builds_link_a_tflm_tree_from_tflm_dir(mlperf_dir: Path) -> None:
    tree = tflm_tree("cortex-m4+fp")
    assert tree == tflm_tree("cortex-m4+fp")  # made once per checkout state
    for header in ("tensorflow/lite/micro/micro_interpreter.h",
                   "tensorflow/lite/micro/kernels/cmsis_nn/conv.cc",
                   "third_party/cmsis_nn/Include/arm_nnfunctions.h", "library.json"):
        assert (tree / header).is_file(), header
    listing = (firmware_dir() / "support" / "tflm_include_dirs.txt").read_text().splitlines()
    folders = [line.strip() for line in listing if line.strip()[:1] not in ("", "#")]
    assert all((tree / f).is_dir() for f in folders), folders
    planned = plan_build("nucleo_l4r5zi", mlperf_dir / "kws01_int8.tflite", arena_bytes=32768)
    assert planned.tree == tree
    try:
        stage(planned)
        assert (planned.project / "lib" / "tflm").resolve() == tree.resolve()
    finally:
        shutil.rmtree(planned.project, ignore_errors=True)
