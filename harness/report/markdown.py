"""results/<run-id>/report.md: the report's tables, with the source of every figure."""

from __future__ import annotations

from harness.report.content import SOURCE_NOTE, ReportContent
from harness.report.tables import MLPERF_RULES_NOTE, markdown_table


def render_markdown(content: ReportContent) -> str:
    meta = content.meta
    lines = [f"# Run {meta['run_id']}", "",
             f"Bench `{meta['bench']}` ({meta['bench_file']}), started {meta['started']}, "
             f"harness {meta['harness_version']}, commit `{meta['git_commit'] or 'n/a'}`.", "",
             SOURCE_NOTE, "", f"## Summary ({content.summary.source})", "",
             *markdown_table(content.summary)]
    if content.notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in content.notes]
    lines += ["", "## MLPerf Tiny style, per benchmark", "", MLPERF_RULES_NOTE]
    for table in content.mlperf:
        lines += ["", f"### {table.title} ({table.source})", "", *markdown_table(table)]
    for extra in (content.savings_table, content.cards_table):
        if extra is not None:
            lines += ["", f"## {extra.title} ({extra.source})", "", *markdown_table(extra)]
    for title, items in (("Skipped jobs", content.skipped), ("Failed jobs", content.failed)):
        if items:
            lines += ["", f"## {title}", ""] + [f"- `{job}`: {msg}" for job, msg in items]
    lines += ["", "Raw rows: `results.csv`; tables as CSV: `summary.csv`, `mlperf.csv`; "
              "energy traces: `traces/*.npz`; per-run cycles: `raw/*.cycles.npy`; "
              "figures: `report.html`.", ""]
    return "\n".join(lines)
