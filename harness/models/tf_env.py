"""The one place the harness imports TensorFlow.

tensorflow-model-optimization 0.8.1 works with Keras 2 only (the ``tf_keras``
package). TensorFlow 2.16+ routes ``tf.keras`` to Keras 3 unless
``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow resolves it, so every caller
goes through `import_tf`, which sets it first. TensorFlow is imported lazily:
listing, running and reporting never pay its ~7 s import.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

from harness.errors import ModelError
from harness.native_output import quiet_native

TRAIN_EXTRA_HINT = "pip install 'tinyml-harness[train]'"
_LEGACY_VALUES = ("1", "true", "True")


def import_tf() -> tuple[ModuleType, ModuleType]:
    """``(tensorflow, tf_keras)`` with ``tf.keras`` routed to Keras 2."""
    imported_before = sys.modules.get("tensorflow") is not None
    if imported_before and os.environ.get("TF_USE_LEGACY_KERAS") not in _LEGACY_VALUES:
        raise ModelError(
            "tensorflow was imported before TF_USE_LEGACY_KERAS=1 was set, so tf.keras may be "
            "Keras 3, which tensorflow-model-optimization cannot use. Import TensorFlow only "
            "through harness.models.tf_env.import_tf(), or export TF_USE_LEGACY_KERAS=1 before "
            "starting Python."
        )
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep a caller's own choice
    try:
        with quiet_native("importing TensorFlow"):
            import tensorflow as tf
            import tf_keras

            tf.config.list_physical_devices()  # its device probing (CUDA) chatters once, here
    except ImportError as exc:
        raise ModelError(f"training and conversion need TensorFlow and tf-keras ({exc}); "
                         f"install them with: {TRAIN_EXTRA_HINT}") from exc
    # The variable is read when tf.keras is first touched, not at import: check the outcome.
    if tf.keras.Model is not tf_keras.Model:
        raise ModelError("tf.keras resolved to Keras 3 although TF_USE_LEGACY_KERAS=1 is set: "
                         "something touched tf.keras before the variable was set. Import "
                         "TensorFlow only through harness.models.tf_env.import_tf().")
    return tf, tf_keras
