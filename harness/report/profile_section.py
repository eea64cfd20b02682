"""The report's per-layer profiles (bench ``modes.profile``): each profiled job's costliest ops
as a chart and a table, and what profiling itself cost, from ``profiles/<job>.json``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.measure.profile import read_profiles
from harness.report.tables import Cell, Column, Table

if TYPE_CHECKING:   # matplotlib: imported when a figure is drawn
    from harness.report.figures import ReportFigure

TOP_OPS = 8          # per job in the chart and the table; the CSV has every op
ROW_IN = 0.24
PANEL_COLUMNS = 2


@dataclass(frozen=True)
class ProfileSection:
    documents: list[dict]
    tables: list[Table]
    overheads: list[str]        # one sentence per job


def profile_section(run_dir: Path) -> ProfileSection | None:
    documents = read_profiles(run_dir)
    if not documents:
        return None
    return ProfileSection(documents, [_table(d) for d in documents],
                          [overhead_text(d) for d in documents])


def overhead_text(document: dict) -> str:
    unit = document["unit"]
    text = (f"{document['job']}: {document['profiled_per_inference']:,.0f} {unit} per inference "
            f"with every op timed, {document['unprofiled_per_inference']:,.0f} without "
            f"({document['overhead_per_inference']:+,.0f}, {document['overhead_pct']:+.3f} %; "
            f"{document['runs']} runs, {document['source']})")
    if document["source"] == "simulated":
        text += ": the latency model's split, no profiling cost modelled"
    return text


def _costliest(document: dict) -> list[dict]:
    return sorted(document["ops"], key=lambda o: -o["cycles"])[:TOP_OPS]


def _table(document: dict) -> Table:
    unit = document["unit"]
    table = Table(f"{document['job']}: the {min(TOP_OPS, len(document['ops']))} costliest of "
                  f"{len(document['ops'])} ops", [
                      Column("index", "Op #", True), Column("op", "Op"),
                      Column("macs", "MACs", True), Column("cycles", f"{unit} / inference", True),
                      Column("share", "share %", True), Column("source", "Source")])
    for op in _costliest(document):
        table.rows.append({
            "index": Cell(str(op["index"]), op["index"]), "op": Cell(op["op"]),
            "macs": Cell(f"{op['macs']:,}", op["macs"]),
            "cycles": Cell(f"{op['cycles']:,.0f}", op["cycles"]),
            "share": Cell(f"{op['share'] * 100:.1f}", op["share"] * 100),
            "source": Cell(document["source"])})
    table.source = document["source"]
    return table


def profile_figure(section: ProfileSection) -> ReportFigure:
    """One panel per profiled job: its costliest ops' share of an inference."""
    from harness.report.figures import TEXT_PT, WIDTH_IN, embed, new_figure

    documents = section.documents
    columns = min(PANEL_COLUMNS, len(documents))
    rows = math.ceil(len(documents) / columns)
    fig = new_figure(WIDTH_IN, rows * (ROW_IN * TOP_OPS + 0.9) + 0.5)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, document in zip(axes, documents, strict=False):
        ops = _costliest(document)
        ys = range(len(ops), 0, -1)
        ax.barh(list(ys), [o["share"] * 100 for o in ops], color="C0")
        ax.set_yticks(list(ys), [f"#{o['index']} {o['op']}" for o in ops], fontsize=TEXT_PT)
        for y, o in zip(ys, ops, strict=True):
            ax.annotate(f"{o['cycles']:,.0f}", (o["share"] * 100, y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=TEXT_PT)
        ax.set_xlim(0, max(o["share"] for o in ops) * 100 * 1.35 or 1)
        ax.set_title(f"{document['job']}  [{document['source']}]", fontsize=10)
        ax.set_xlabel(f"% of the ops' {document['unit']} per inference", fontsize=10)
        ax.tick_params(axis="x", labelsize=TEXT_PT)
        ax.grid(True, axis="x", alpha=0.3)
    for ax in axes[len(documents):]:
        ax.set_visible(False)
    sources = " + ".join(sorted({d["source"] for d in documents}))
    return embed(fig, "Costliest ops per job", sources,
                 f"Each profiled job's {TOP_OPS} costliest ops, as a share of the sum over its "
                 "ops; the number beside a bar is its count per inference. Every op: "
                 "profiles/<job>.csv. Profiling's own cost is stated below the chart.")
