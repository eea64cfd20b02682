"""Which MLPerf Tiny benchmark a bench model is, from the reference files it names.

MLPerf Tiny names its benchmarks ``ic``, ``kws``, ``vww``, ``ad`` and ``sww``; its
reference models and dataset folders carry the name with a number (``ic01``,
``kws01_int8.tflite``, ``datasets/ad01``). A submission folder is laid out per
benchmark, so a measured model must be known as one of them: a model path
``mlperf:<file>`` or a dataset ``mlperf:<folder>`` says so by its name.
"""

from __future__ import annotations

import re
from pathlib import PurePath

#: MLPerf Tiny's benchmark names, as submission folders and the checker spell them
BENCHMARKS = ("ad", "ic", "kws", "vww", "sww")
_NAMED = re.compile(r"^(ad|ic|kws|vww|sww)\d\d", re.IGNORECASE)


def mlperf_benchmark(model_path: str, dataset: str) -> str | None:
    """``ic`` for ``mlperf:ic01_int8.tflite`` or a dataset ``mlperf:…/ic01``; else None.

    The dataset folder decides when both name one (the accuracy set is what
    makes a benchmark); a model or dataset that names none is not a benchmark.
    """
    for ref in (dataset, model_path):
        scheme, _, arg = ref.partition(":")
        if scheme != "mlperf" or not arg:
            continue
        folder = arg.partition("#")[0].rstrip("/\\")
        match = _NAMED.match(PurePath(folder).name)
        if match:
            return match.group(1).lower()
    return None
