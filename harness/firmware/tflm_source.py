"""Where TFLM comes from: a tflite-micro checkout the user points TFLM_DIR at.

TFLM, CMSIS-NN and their third-party sources are in no registry reachable
from every lab and are never part of this project. A checkout's own Makefile
downloads its third-party sources on first use (network needed once) and
builds the library; the harness only calls it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.errors import BoardError

TFLM_ENV = "TFLM_DIR"
TFLM_MAKEFILE = Path("tensorflow/lite/micro/tools/make/Makefile")
TFLM_HINT = (
    "get TFLM with `git clone https://github.com/tensorflow/tflite-micro` and set "
    f"{TFLM_ENV} to the checkout (its Makefile downloads CMSIS, CMSIS-NN, flatbuffers, "
    "gemmlowp, ruy and kissfft on first use); see docs/firmware.md, 'Getting TFLM'")


def tflm_dir(path: Path | None = None) -> Path:
    """The tflite-micro checkout: ``path``, else $TFLM_DIR."""
    if path is None:
        env = os.environ.get(TFLM_ENV)
        if not env:
            raise BoardError(f"{TFLM_ENV} is not set: {TFLM_HINT}")
        path = Path(env)
    path = path.expanduser().resolve()
    if not (path / TFLM_MAKEFILE).is_file():
        raise BoardError(f"{path} is not a tflite-micro checkout (no {TFLM_MAKEFILE}): "
                         f"{TFLM_HINT}")
    return path


def tflm_make_env() -> dict[str, str]:
    """Environment for TFLM's Makefile: it runs ``python3`` while parsing (to list
    its examples' generated sources, which imports numpy and PIL); put this
    interpreter's folder first so that it finds the harness's environment."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
