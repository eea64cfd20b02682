"""results/<run-id>/report.md: the report's tables, with the source of every figure."""

from __future__ import annotations

from harness.report.content import SOURCE_NOTE, ReportContent
from harness.report.glance import Glance, Pick, regression_text
from harness.report.profile_section import profile_section
from harness.report.tables import MLPERF_RULES_NOTE, markdown_table


def render_markdown(content: ReportContent) -> str:
    meta = content.meta
    lines = [f"# Run {meta['run_id']}", "",
             f"Bench `{meta['bench']}` ({meta['bench_file']}), started {meta['started']}, "
             f"harness {meta['harness_version']}, commit `{meta['git_commit'] or 'n/a'}`.", "",
             SOURCE_NOTE, "", f"## At a glance ({content.summary.source})", "",
             *_glance(content.glance)]
    if content.notes:
        lines += ["", "Notes:"] + [f"{n.number}. {n}" for n in content.notes]
    lines += ["", f"## Summary ({content.summary.source})", ""]
    if refs := content.caveat_refs(content.lines):
        lines += [refs, ""]
    lines += markdown_table(content.summary)
    lines += ["", "## MLPerf Tiny style, per benchmark", "", MLPERF_RULES_NOTE]
    for table in content.mlperf:
        lines += ["", f"### {table.title} ({table.source})", "", *markdown_table(table)]
    profiles = profile_section(content.store.run_dir)
    if profiles is not None:
        lines += ["", "## Per-layer profiles", "", "What timing every op cost:", ""]
        lines += [f"- {text}" for text in profiles.overheads]
        for table in profiles.tables:
            lines += ["", f"### {table.title} ({table.source})", "", *markdown_table(table)]
        lines += ["", "Every op: `profiles/<job>.csv`."]
    for extra in (content.savings_table, content.cards_table):
        if extra is not None:
            lines += ["", f"## {extra.title} ({extra.source})", "", *markdown_table(extra)]
    if content.skipped:
        lines += ["", "## Skipped jobs", ""] + [f"- `{job}`: {msg}" for job, msg in content.skipped]
    if content.glance.problems:
        lines += ["", "## Failed and partial jobs", ""] + [
            f"- `{p.job}` **{p.status}**: {p.message}" for p in content.glance.problems]
    lines += ["", "Raw rows: `results.csv`; tables as CSV: `summary.csv`, `mlperf.csv`; "
              "energy traces: `traces/*.npz`; per-run cycles: `raw/*.cycles.npy`; "
              "figures: `report.html`.", ""]
    return "\n".join(lines)


def _glance(g: Glance) -> list[str]:
    lines = [f"Jobs: **{g.jobs_text}**."]
    if g.problems:
        lines.append(f"**{len(g.problems)} did not complete**: "
                     + ", ".join(f"`{p.job}` ({p.status})" for p in g.problems) + ".")
    if g.recoveries:
        lines.append(f"Board recoveries: **{g.recoveries_total}** in "
                     + ", ".join(f"`{job}`" for job, _ in g.recoveries) + ".")
    elif g.recoveries_recorded:
        lines.append("No board resets, hangs, lost ports or resent commands.")
    if g.regressions:
        lines.append(f"**{len(g.regressions)} of {g.gated} gated figures failed** against "
                     f"`{g.baseline}`: " + "; ".join(
                         f"`{r['board']}/{r['model']}/{r['variant']}` {r['metric']} "
                         f"{regression_text(r)}" for r in g.regressions) + ".")
    elif g.baseline:
        lines.append(f"No regression against `{g.baseline}` ({g.gated} gated figures).")
    gated = g.baseline is not None
    lines += ["", "| Board | Model | Jobs | Lowest energy | Lowest latency | Reference | "
              "Recoveries |" + (" vs baseline |" if gated else "") + " Source |",
              "|---|---|---|---|---|---|---|" + ("---|" if gated else "") + "---|"]
    for r in g.rows:
        cells = [r.board, r.model, r.jobs_text, _pick(r.energy), _pick(r.latency),
                 r.reference_text, r.recoveries_text]
        if gated:
            cells.append(f"{r.regressions} failed" if r.regressions else "ok")
        cells.append(f"**{r.source}**")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def _pick(p: Pick | None) -> str:
    if p is None:
        return "not measured"
    near = f"; within noise: {', '.join(p.near)}" if p.near else ""
    return f"**{p.variant}** {p.figure} ({p.detail}{near})"
