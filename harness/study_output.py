"""The study's files in its run folder: study.json (everything), study.csv (one row per
model, board, technique and metric), study.md (the tables beside the published claims)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from harness.results.store import write_atomic
from harness.study_spec import METRICS, PUBLISHED, STUDY_JSON, TECHNIQUES
from harness.study_stats import MeanCI

if TYPE_CHECKING:
    from harness.study import StudyResult

CSV_COLUMNS = ("model", "board", "source", "technique", "metric", "mean", "ci_low", "ci_high",
               "n", "published")


def write_study(result: StudyResult) -> dict[str, Path]:
    doc = result.to_json()
    paths = {name: result.run_dir / f"study.{name}" for name in ("json", "csv", "md")}
    write_atomic(paths["json"], json.dumps(doc, indent=2) + "\n")
    write_atomic(paths["csv"], study_csv(doc))
    write_atomic(paths["md"], study_markdown(doc))
    return paths


def read_study(run_dir: Path) -> dict | None:
    path = run_dir / STUDY_JSON
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def study_csv(doc: dict) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in doc["summary"]:
        writer.writerow({**{k: row[k] for k in CSV_COLUMNS if k in row},
                         "published": doc["published"][row["technique"]][row["metric"]]})
    return out.getvalue()


def cell(row: dict | None) -> str:
    if row is None:
        return "–"
    m = MeanCI(row["mean"], row["ci_low"], row["ci_high"], row["n"])
    if m.ci_low is None or m.ci_high is None:
        return f"{m.mean:.1f}"
    return f"{m.mean:.1f} ± {(m.ci_high - m.ci_low) / 2:.1f}"


def anova_text(test: dict) -> str:
    if test["p"] is None:
        return f"no ANOVA: {test['note']}"
    verdict = "p < 0.05" if test["significant"] else "p ≥ 0.05"
    f = "∞" if test["f"] is None else f"{test['f']:.3g}"
    return f"one-way ANOVA F = {f}, p = {test['p']:.2g} ({verdict})"


def pairs_text(test: dict) -> str:
    differ = [f"{p['a']}–{p['b']}" for p in test["pairs"] if p["p"] < 0.05]
    same = [f"{p['a']}–{p['b']}" for p in test["pairs"] if p["p"] >= 0.05]
    if not test["pairs"]:
        return ""
    return (f"Tukey HSD: differ {', '.join(differ) or 'none'}; "
            f"not distinguishable {', '.join(same) or 'none'}")


def study_markdown(doc: dict) -> str:
    lines = [f"# Technique study: {doc['bench']}", "",
             f"{doc['seeds']} training seeds per technique; mean ± half-width of the 95 % "
             "t interval over the seeds. Accuracy: top-1 of the TFLM host runtime on the "
             "held-out split (the model card). Reductions are against the same seed's fp32 "
             "baseline on the same board. Published: the claims the study is set beside.",
             ""]
    lines += group_tables(doc)
    failures = [b for b in doc["builds"] if b["error"]]
    if failures:
        lines += ["## Builds that failed", ""]
        lines += sorted({f"- {b['technique']} ({b['variant']}): {b['error']}" for b in failures})
        lines.append("")
    for board, reason in doc["boards_left_out"].items():
        lines.append(f"- board {board} left out: {reason}")
    for job, reason in doc["failed_jobs"].items():
        lines.append(f"- job {job}: {reason}")
    return "\n".join(lines).rstrip() + "\n"


def published_text(technique: str) -> str:
    """The published figures of ``technique``, in the order of METRICS."""
    return ", ".join(f"{PUBLISHED[technique][m]:g}" for m, _ in METRICS)


def seeds_text(doc: dict, model: str) -> str:
    """What a seed changes for ``model``: its source's training too, or the compression only."""
    if doc.get("retrained", {}).get(model):
        return "source retrained per seed"
    return "one source model: seeds vary the compression training only"


def group_tables(doc: dict) -> list[str]:
    """Per (model, board): the technique table and the tests, as Markdown lines."""
    lines: list[str] = []
    groups = list(dict.fromkeys((r["model"], r["board"], r["source"]) for r in doc["summary"]))
    for model, board, source in groups:
        rows = {(r["technique"], r["metric"]): r for r in doc["summary"]
                if (r["model"], r["board"]) == (model, board)}
        lines += [f"## {model} on {board} ({source})", "", f"{doc['seeds']} seeds, "
                  f"{seeds_text(doc, model)}.", "",
                  "| technique | " + " | ".join(t for _, t in METRICS) + " | published "
                  "(the same columns) |",
                  "|---|" + "--:|" * len(METRICS) + "---|"]
        for technique, variant in TECHNIQUES:
            if not any(t == technique for t, _ in rows):
                continue
            published = published_text(technique)
            lines.append(f"| {technique} (`{variant}`) | " + " | ".join(
                cell(rows.get((technique, m))) for m, _ in METRICS) + f" | {published} |")
        lines.append("")
        for test in doc["tests"]:
            if (test["model"], test["board"]) == (model, board):
                title = dict(METRICS)[test["metric"]]
                extra = pairs_text(test)
                lines.append(f"- {title}: {anova_text(test)}"
                             + (f". {extra}" if extra else ""))
        lines.append("")
    return lines
