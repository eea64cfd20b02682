"""Where the MLPerf Tiny reference models live (read-only data, never copied into the project)."""

from __future__ import annotations

import os
from pathlib import Path

from harness.paths import project_root

MLPERF_TINY_ENV = "HARNESS_MLPERF_TINY_DIR"

MLPERF_TINY_HINT = (
    "Get them from the MLCommons tiny repository (github.com/mlcommons/tiny, "
    "benchmark/training/<benchmark>/trained_models/: pretrainedResnet_quant.tflite, "
    "kws_ref_model.tflite, model_ToyCar_quant_fullint_micro.tflite), save them as "
    f"ic01_int8.tflite, kws01_int8.tflite, ad01_int8.tflite and point {MLPERF_TINY_ENV} "
    "at their folder."
)


def mlperf_tiny_dir() -> Path:
    """The folder holding the MLPerf Tiny .tflite files.

    ``HARNESS_MLPERF_TINY_DIR`` if set, else ``../shared/mlperf_tiny`` beside the
    project root (the folder with pyproject.toml), where the lab keeps shared data.
    """
    env = os.environ.get(MLPERF_TINY_ENV)
    return Path(env) if env else project_root().parent / "shared" / "mlperf_tiny"
