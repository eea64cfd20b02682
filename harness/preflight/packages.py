"""Pre-flight of optional packages: each missing one named with the extra that installs it.

Looks packages up with `importlib.util.find_spec`, which finds a module without
importing it: checking never pays TensorFlow's import or a vendor library's side
effects.
"""

from __future__ import annotations

import importlib.util

from harness.config.bench import Bench
from harness.errors import HarnessError
from harness.power.backend_params import MONITOR_BACKENDS, Package
from harness.preflight.findings import Finding

TFLM = Package("tflite_micro", "tflite-micro")
TENSORFLOW = Package("tensorflow", "tensorflow")


def installed(package: Package) -> bool:
    try:
        return importlib.util.find_spec(package.module) is not None
    except (ImportError, ValueError):  # a parent package is missing, or a stubbed-out module
        return False


def _needs(what: str, package: Package, extra: str) -> str:
    return (f"{what} needs package {package.distribution}: "
            f"pip install 'tinyml-harness[{extra}]'")


def check_packages(bench: Bench) -> list[Finding]:
    path = str(bench.path)
    findings: list[Finding] = []
    for i, monitor in enumerate(bench.spec.monitors):
        try:
            info = MONITOR_BACKENDS.get(monitor.backend)
        except HarnessError:  # a plugin that does not load: check_monitors says so
            continue
        findings += [Finding("error", path, f"monitors[{i}].backend",
                             _needs(f"backend {monitor.backend}", p, info.extra))
                     for p in info.packages if not installed(p)]
    if not installed(TFLM):  # every job runs the model in the host runtime, as the reference
        findings.append(Finding("error", path, "models",
                                _needs("every job (the TFLM host reference)", TFLM, "tflm")))
    if not installed(TENSORFLOW):
        findings += [Finding("error", path, f"models[{i}].path",
                             _needs(f"{model.path} (trained here)", TENSORFLOW, "train"))
                     for i, model in enumerate(bench.spec.models)
                     if model.path.startswith("builtin:")]
    return findings
