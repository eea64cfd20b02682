"""Host figures of a built .tflite: accuracy with LiteRT and with TFLM, and TFLM's arena.

Both runtimes get the same quantized inputs a board gets (`Dataset.to_model_input`)
on the held-out split, scored by the rule a board is scored by
(`measure/scoring.py`). An unlabelled (generated) dataset gives no accuracy (None).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import ModelError
from harness.measure.scoring import Scorer
from harness.models.datasets import Dataset
from harness.models.tf_env import import_tf
from harness.models.tflm_host import TflmHostModel
from harness.native_output import quiet_native
from harness.tensors import TensorSpec

_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'|"
                         r"Failed to get registration from op code ([A-Z0-9_:]+)")


@dataclass(frozen=True)
class TflmCheck:
    host: TflmHostModel | None
    unsupported_ops: tuple[str, ...]
    reason: str                      # why TFLM cannot run it ("" when it can)


def check_tflm(path: Path) -> TflmCheck:
    """Load into the TFLM host runtime; an op it lacks is named, not raised."""
    try:
        return TflmCheck(TflmHostModel.load(path), (), "")
    except ModelError as exc:
        ops = tuple(sorted({a or b for a, b in _MISSING_OP.findall(str(exc))}))
        return TflmCheck(None, ops, str(exc))


def metric_for(dataset: Dataset) -> str:
    return "auc" if dataset.task == "anomaly" else "top1"


def host_accuracy(run: Callable[[np.ndarray], np.ndarray], input_spec: TensorSpec,
                  output_spec: TensorSpec, dataset: Dataset) -> float | None:
    """Score ``run`` (raw input → raw output) on ``dataset``; None when it has no labels."""
    scorer = Scorer(dataset, input_spec, output_spec)
    for i in range(len(dataset)):
        raw_in = dataset.to_model_input(i, input_spec)
        scorer.add(raw_in, np.asarray(run(raw_in)))
    return scorer.accuracy()


def litert_runner(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], TensorSpec,
                                       TensorSpec]:
    """The TFLite interpreter (LiteRT) as a raw-in → raw-out function, with its I/O specs."""
    tf, _ = import_tf()
    with warnings.catch_warnings(), quiet_native("the TFLite interpreter"):
        warnings.simplefilter("ignore")  # its deprecation notice in favour of ai-edge-litert
        interpreter = tf.lite.Interpreter(model_path=os.fspath(path))
        interpreter.allocate_tensors()  # announces its XNNPACK delegate
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

    def run(raw: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(inp["index"], raw.reshape(inp["shape"]))
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return run, _spec(inp), _spec(out)


def _spec(details: dict) -> TensorSpec:
    return TensorSpec(np.dtype(details["dtype"]).name, tuple(int(d) for d in details["shape"]),
                      *details["quantization"])
