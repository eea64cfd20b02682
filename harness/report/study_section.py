"""The report's "Technique study" section, from the run folder's study.json (harness study)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.report.tables import Cell, Column, Table
from harness.study_output import (
    anova_text,
    cell,
    pairs_text,
    published_text,
    read_study,
    seeds_text,
)
from harness.study_spec import METRICS, TECHNIQUES


@dataclass(frozen=True)
class StudySection:
    seeds: int
    tables: list[Table]
    tests: list[list[str]]          # per table: one line per metric
    failures: list[str]


def study_section(run_dir: Path) -> StudySection | None:
    doc = read_study(run_dir)
    if doc is None:
        return None
    tables, tests = [], []
    groups = list(dict.fromkeys((r["model"], r["board"], r["source"]) for r in doc["summary"]))
    for model, board, source in groups:
        rows = {(r["technique"], r["metric"]): r for r in doc["summary"]
                if (r["model"], r["board"]) == (model, board)}
        table = Table(f"{model} on {board}: technique × metric, mean ± 95 % CI over "
                      f"{doc['seeds']} seeds ({seeds_text(doc, model)})", [
                          Column("technique", "Technique"),
                          *(Column(m, title, True) for m, title in METRICS),
                          Column("published", "Published (the same columns)")],
                      source=source)
        for technique, variant in TECHNIQUES:
            if any(t == technique for t, _ in rows):
                table.rows.append({
                    "technique": Cell(f"{technique} ({variant})"),
                    **{m: Cell(cell(rows.get((technique, m)))) for m, _ in METRICS},
                    "published": Cell(published_text(technique))})
        tables.append(table)
        tests.append([f"{dict(METRICS)[t['metric']]}: {anova_text(t)}"
                      + (f". {pairs_text(t)}" if t["pairs"] else "")
                      for t in doc["tests"] if (t["model"], t["board"]) == (model, board)])
    failures = sorted({f"{b['technique']} ({b['variant']}): {b['error']}"
                       for b in doc["builds"] if b["error"]})
    return StudySection(doc["seeds"], tables, tests, failures)
