"""The regression gate: a run, a baseline, thresholds from the bench file and the command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from harness.config.bench import Thresholds, load_bench
from harness.errors import ConfigError
from harness.report.baseline import load_figures
from harness.report.compare import Comparison, compare, comparison_dict
from harness.results.store import METADATA_JSON, write_atomic

log = logging.getLogger(__name__)

GATE_JSON = "gate.json"   # the run's own gate (run --baseline, report --baseline), for reports


def bench_thresholds(run_dir: Path, bench_file: Path | None = None) -> Thresholds:
    """The given bench file's thresholds, else those of the bench the run recorded, else defaults.

    A given file must be valid; the recorded one may have moved or changed since,
    so a problem with it is a warning and the defaults apply.
    """
    if bench_file is not None:
        return load_bench(bench_file).spec.thresholds
    meta_path = run_dir / METADATA_JSON
    recorded = (json.loads(meta_path.read_text(encoding="utf-8")).get("bench_file")
                if meta_path.is_file() else None)
    if not recorded or not Path(recorded).is_file():
        log.info("compare: bench file of %s not found; default thresholds", run_dir)
        return Thresholds()
    try:
        return load_bench(Path(recorded)).spec.thresholds
    except ConfigError as exc:
        log.warning("compare: %s; default thresholds", exc)
        return Thresholds()


def with_overrides(base: Thresholds, **overrides: float | None) -> Thresholds:
    return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})


def run_identity(run_dir: Path) -> tuple[str, str]:
    """(run id, bench name) from run.json, or the folder name when there is none."""
    meta_path = run_dir / METADATA_JSON
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return meta.get("run_id", run_dir.name), meta.get("bench", "bench")


def gate(run: Path, baseline: Path | None, thresholds: Thresholds) -> list[Comparison]:
    """Every figure of ``run`` against ``baseline`` (None: figures recorded, nothing gated)."""
    return compare(load_figures(run), load_figures(baseline) if baseline else {}, thresholds)


def gate_document(run: Path, baseline: Path | None, thresholds: Thresholds,
                  comparisons: list[Comparison]) -> dict[str, object]:
    """What `harness compare --json` prints and gate.json holds; docs/json.md."""
    return {"run": str(run), "baseline": None if baseline is None else str(baseline),
            "thresholds": thresholds.model_dump(),
            "regressed": any(c.failed for c in comparisons),
            "failed": sum(c.failed for c in comparisons),
            "gated": sum(c.status != "info" for c in comparisons),
            "comparisons": [comparison_dict(c) for c in comparisons]}


def record_gate(run_dir: Path, document: dict[str, object]) -> None:
    """Keep the run's gate beside its results: its report names the regressions."""
    write_atomic(run_dir / GATE_JSON, json.dumps(document, indent=1, allow_nan=False) + "\n")


def load_gate(run_dir: Path) -> dict | None:
    path = run_dir / GATE_JSON
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        log.warning("report: %s is not JSON (%s); the report shows no baseline", path, exc)
        return None
