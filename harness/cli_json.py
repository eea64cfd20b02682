"""`--json`: what a listing command would print, as one JSON document on stdout (docs/json.md).

Each command builds its document with a plain function here (or in the library,
for `compare`), and prints it with `print_json`; errors still go to stderr with
the usual exit codes, so stdout is either the document or empty.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:   # what the documents are made of; imported by the commands when used
    from harness.config.board import BoardSpec
    from harness.power.monitor import FoundMonitor
    from harness.preflight.bench_check import BenchCheck
    from harness.results.history import RunEntry, TrendPoint

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON document instead of tables (docs/json.md).")


def print_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(_finite(document), indent=2, ensure_ascii=False, allow_nan=False))


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def boards_document(boards: list[BoardSpec]) -> dict[str, Any]:
    """Every board definition with every key of its file (defaults filled in)."""
    return {"boards": [board.model_dump(mode="json") for board in boards]}


def monitors_document(found: list[FoundMonitor], problems: dict[str, str]) -> dict[str, Any]:
    return {"monitors": [asdict(m) for m in sorted(found, key=lambda m: (m.backend, m.resource))],
            "problems": [{"backend": b, "problem": p} for b, p in sorted(problems.items())]}


def check_document(checks: list[BenchCheck]) -> dict[str, Any]:
    return {"ok": not any(c.errors for c in checks),
            "benches": [{"file": str(c.path), "ok": not c.errors, "errors": c.errors,
                         "warnings": c.warnings, "counts": c.counts,
                         "findings": [asdict(f) for f in c.findings]} for c in checks]}


def runs_document(runs: list[RunEntry]) -> dict[str, Any]:
    return {"runs": [asdict(r) for r in runs]}


def trend_document(metric: str, points: list[TrendPoint],
                   changes: list[float | None]) -> dict[str, Any]:
    """``changes``: per point, % against the previous run of the same series (None: first)."""
    return {"metric": metric,
            "points": [asdict(p) | {"change_pct": c} for p, c in zip(points, changes,
                                                                     strict=True)]}
