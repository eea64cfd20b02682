"""Pre-flight: what can be known about a bench before a run starts, for `harness check` and
for `harness run` before it creates ``results/<run-id>/``.

Two stages, because building variants is slow: `check_setup` needs only the
bench (monitor params, wiring, optional packages, dataset files), `check_built`
the located model files (TFLM load, op resolver, memory, datasets that fit).
Each returns `Finding`s; `raise_on_errors` turns errors into one `PreflightError`.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.config.bench import Bench
from harness.models.resolve import ResolvedModel
from harness.preflight.datasets import check_datasets, dataset_files
from harness.preflight.findings import Finding, PreflightError, raise_on_errors
from harness.preflight.models import ModelKey, check_models
from harness.preflight.monitors import check_monitors
from harness.preflight.packages import check_packages

__all__ = ["Finding", "PreflightError", "check_built", "check_setup", "raise_on_errors"]


def check_setup(bench: Bench) -> list[Finding]:
    """Monitors (params, what they can measure, wiring), optional packages, dataset files."""
    return [*check_monitors(bench), *check_packages(bench), *dataset_files(bench)]


def check_built(bench: Bench, models: Mapping[ModelKey, ResolvedModel]) -> list[Finding]:
    """Every located model file and the datasets the jobs will feed it."""
    return [*check_models(bench, models), *check_datasets(bench, models)]
