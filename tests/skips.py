"""Skip conditions shared by test modules: each says what is missing and how to get it."""

from __future__ import annotations

import os
import shutil

import pytest

TFLM_IN_QEMU = [
    pytest.mark.skipif(not os.environ.get("TFLM_DIR"),
                       reason="TFLM_DIR is not set: these tests build TFLM from a tflite-micro "
                              "checkout (docs/firmware.md, 'Getting TFLM')"),
    pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-g++")),
                       reason="needs qemu-system-arm and arm-none-eabi-g++ (apt-get install "
                              "qemu-system-arm gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib)"),
]
