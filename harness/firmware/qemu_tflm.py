"""The QEMU image with the TFLM runner and an embedded model.

Three steps, each cached: TFLM's own Makefile builds libtensorflow-microlite.a
in the checkout (it knows when it is up to date); the model becomes C sources
in a folder named by their hash; ``build_qemu_image`` links the image, cached
by a digest of the firmware sources and the make variables, which name the
model folder and carry the library's SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from harness import procs
from harness.errors import BoardError
from harness.firmware.model_embed import EmbeddedModel, embed_model
from harness.firmware.qemu_build import QemuImage, build_qemu_image, firmware_dir
from harness.firmware.tflm_source import tflm_dir, tflm_make_env

log = logging.getLogger(__name__)

Kernels = Literal["cmsis_nn", "reference"]
BuildType = Literal["release", "default"]
LIBRARY_TIMEOUT_S = 3600  # a first build compiles ~300 files: ~10 min on 2 cores


@dataclass(frozen=True)
class QemuTflmImage:
    image: QemuImage
    model: EmbeddedModel
    library: Path
    kernels: Kernels


def build_tflm_library(tflm: Path, kernels: Kernels = "cmsis_nn",
                       build_type: BuildType = "release", jobs: int | None = None) -> Path:
    """libtensorflow-microlite.a for the emulated Cortex-M4F, built by TFLM's Makefile."""
    cmd = ["make", "--no-print-directory", "-s", "-C", str(firmware_dir() / "qemu"),
           f"-j{jobs or os.cpu_count() or 1}", "tflm-lib", f"TFLM_DIR={tflm}",
           f"TFLM_KERNELS={kernels}", f"TFLM_BUILD_TYPE={build_type}"]
    log.info("building TFLM (%s kernels, %s): %s", kernels, build_type, " ".join(cmd))
    try:
        run = procs.run(cmd, capture_output=True, text=True, timeout=LIBRARY_TIMEOUT_S,
                        env=tflm_make_env())
    except subprocess.TimeoutExpired as exc:
        raise BoardError(f"building TFLM in {tflm} timed out after {LIBRARY_TIMEOUT_S} s") \
            from exc
    lines = run.stdout.strip().splitlines()
    library = Path(lines[-1]) if lines else None
    if run.returncode != 0 or library is None or not library.is_file():
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise BoardError(f"building TFLM's library in {tflm} failed ({' '.join(cmd)}):\n{tail}")
    return library


def build_qemu_tflm_image(model: Path, kernels: Kernels = "cmsis_nn", tflm: Path | None = None,
                          arena_bytes: int | None = None,
                          build_type: BuildType = "release") -> QemuTflmImage:
    """The QEMU image running ``model`` on TFLM (``tflm`` defaults to $TFLM_DIR)."""
    root = tflm_dir(tflm)
    library = build_tflm_library(root, kernels, build_type)
    embedded = embed_model(model, firmware_dir() / "qemu" / "build" / "models", arena_bytes)
    image = build_qemu_image("tflm", {
        "TFLM_DIR": str(root), "TFLM_KERNELS": kernels, "TFLM_BUILD_TYPE": build_type,
        "MODEL_DIR": str(embedded.folder),
        # not read by make: it makes a rebuilt library a new image
        "TFLM_LIB_SHA256": hashlib.sha256(library.read_bytes()).hexdigest(),
    })
    return QemuTflmImage(image, embedded, library, kernels)
