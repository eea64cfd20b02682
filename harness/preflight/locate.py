"""Which model files `harness check` can look at without running anything.

`harness run` resolves every model and variant (building variants and training
the built-in model) before its pre-flight. `harness check` locates only files
that exist already, unless asked to build: a variant or a built-in model is then
a note saying the run checks it before it starts.
"""

from __future__ import annotations

from pathlib import Path

from harness.config.bench import Bench
from harness.errors import ModelError
from harness.models.resolve import AS_IS, ResolvedModel, resolve_model
from harness.preflight.findings import Finding

ModelKey = tuple[str, str]


def locate_models(bench: Bench, mlperf_dir: Path, cache_dir: Path,
                  build: bool) -> tuple[dict[ModelKey, ResolvedModel], list[Finding]]:
    models: dict[ModelKey, ResolvedModel] = {}
    findings: list[Finding] = []
    for i, model in enumerate(bench.spec.models):
        unbuilt: list[str] = []
        for variant in bench.spec.variants_for(model):
            if not build and (variant != AS_IS or model.path.startswith("builtin:")):
                unbuilt.append(variant)
                continue
            try:
                models[(model.id, variant)] = resolve_model(model, variant, bench.base_dir,
                                                            mlperf_dir, cache_dir)
            except ModelError as exc:
                findings.append(Finding("error", str(bench.path), f"models[{i}].path", str(exc)))
        if unbuilt:
            findings.append(Finding(
                "note", str(bench.path), f"models[{i}].variants",
                f"{', '.join(unbuilt)} of {model.path} not checked: built by the run, whose "
                "pre-flight checks them before it starts (`harness check --build` builds them "
                "now)"))
    return models, findings
