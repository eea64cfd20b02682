"""results/<run-id>/results.json: results.csv's rows for programs, with numbers as numbers.

The same rows as results.csv, in its order, each with every column: ``value``,
``ci_low``, ``ci_high`` as numbers (``null`` when empty or not finite, which JSON
cannot spell), ``n`` as an integer, the rest as text. Beside them the run's metadata
(run.json) and each job's latest outcome (jobs.jsonl). Schema: docs/json.md.
"""

from __future__ import annotations

import json
import math

from harness.results.rows import COLUMNS
from harness.results.store import RunStore, write_atomic

RESULTS_JSON = "results.json"
SCHEMA_VERSION = 1
_FLOATS = ("value", "ci_low", "ci_high")
_INTS = ("n",)
#: what a results.csv written before a column existed means by leaving it out
_ABSENT = {"protocol": "harness"}


def typed_row(row: dict[str, str]) -> dict[str, object]:
    """Every column of results.csv in its order (and any the file adds), typed."""
    typed: dict[str, object] = {}
    for name in [*COLUMNS, *(k for k in row if k not in COLUMNS)]:
        text = row.get(name) or ""
        if name in _FLOATS:
            typed[name] = _float(text)
        elif name in _INTS:
            typed[name] = int(float(text)) if text else None
        else:
            typed[name] = text or _ABSENT.get(name, "")
    return typed


def _float(text: str) -> float | None:
    if not text:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def results_document(store: RunStore) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run": store.metadata(),
        "jobs": [{"job": job, "status": entry["status"], "message": entry.get("message", "")}
                 for job, entry in store.outcomes().items()],
        "rows": [typed_row(r) for r in store.read_rows()],
    }


def write_results_json(store: RunStore) -> None:
    write_atomic(store.run_dir / RESULTS_JSON,
                 json.dumps(results_document(store), indent=1, allow_nan=False) + "\n")
