"""import_tf: Keras 2 routing, and clear errors when it cannot be had."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from harness.errors import ModelError
from harness.models.tf_env import import_tf


def test_missing_tensorflow_names_the_extra_to_install(monkeypatch) -> None:
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # what an absent package looks like
    with pytest.raises(ModelError, match=r"pip install 'tinyml-harness\[train\]'"):
        import_tf()


def _run_fresh(code: str) -> subprocess.CompletedProcess:
    """``code`` in a new interpreter without TF_USE_LEGACY_KERAS, as a user's script starts."""
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.slow
def test_tensorflow_imported_without_the_variable_is_refused_until_it_is_set() -> None:
    result = _run_fresh("""
        import os
        import tensorflow
        from harness.errors import ModelError
        from harness.models.tf_env import import_tf
        try:
            import_tf()
        except ModelError as exc:
            print("refused:", exc)
        # The fix the message gives; tf.keras was not touched yet, so it routes to Keras 2.
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        tf, keras = import_tf()
        print("keras", keras.__version__.split(".")[0], tf.keras.Model is keras.Model)
        """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("refused: tensorflow was imported before TF_USE_LEGACY_KERAS=1")
    assert lines[1] == "keras 2 True"
