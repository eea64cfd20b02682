"""results/<run-id>/report.md: the summary table, with the source of every figure."""

from __future__ import annotations

from harness.report.summary import SummaryLine, summarise
from harness.results.store import RunStore

SOURCE_NOTE = ("Every figure carries its source: **measured** (real board and instrument), "
               "**emulated** (QEMU: instruction counts, not silicon), **simulated** (latency and "
               "power models over the TFLM host runtime; docs/boards.md).")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _accuracy(line: SummaryLine) -> str:
    if (top1 := line.value("top1")) is not None:
        return f"{top1:.1f} % top-1"
    if (auc := line.value("auc")) is not None:
        return f"{auc:.3f} AUC"
    return "n/a (generated inputs)" if line.notes else "–"


def _energy(line: SummaryLine) -> str:
    value = line.value("energy_per_inference")
    if value is None:
        return "–"
    ci = line.ci("energy_per_inference")
    half = (ci[1] - ci[0]) / 2 if ci else None
    return f"{value:,.1f} ± {half:,.1f}" if half is not None else f"{value:,.1f}"


def render_markdown(store: RunStore) -> str:
    meta = store.metadata()
    lines = [f"# Run {meta['run_id']}", "",
             f"Bench `{meta['bench']}` ({meta['bench_file']}), started {meta['started']}, "
             f"harness {meta['harness_version']}, commit `{meta['git_commit'] or 'n/a'}`.", "",
             SOURCE_NOTE, "",
             "| Board | Model | Variant | Accuracy | Latency median ms | p90 ms | "
             "µJ/inference ± 95 % CI | Idle mW | Arena B | Host mismatches | Source |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    summary = summarise(store.read_rows())
    for s in summary:
        mism = s.value("host_reference_mismatches")
        lines.append(
            f"| {s.board} ({s.board_def}) | {s.model} | {s.variant} | {_accuracy(s)} | "
            f"{_fmt(s.value('latency_median'))} | {_fmt(s.value('latency_p90'))} | "
            f"{_energy(s)} | {_fmt(s.value('idle_power'))} | "
            f"{_fmt(s.value('arena_bytes'), 0)} | {_fmt(mism, 0)} | **{s.source}** |")
    if not summary:
        lines.append("| (no completed jobs) |||||||||||")
    notes = sorted({n for s in summary for n in s.notes})
    if notes:
        lines += ["", "Notes:"] + [f"- {n}: accuracy cannot be scored; the mismatch count "
                                   "compares the board with the TFLM host runtime." for n in notes]
    outcomes = store.outcomes()
    for status, title in (("skipped", "Skipped jobs"), ("failed", "Failed jobs")):
        items = [(job, e["message"]) for job, e in outcomes.items() if e["status"] == status]
        if items:
            lines += ["", f"## {title}", ""] + [f"- `{job}`: {msg}" for job, msg in items]
    lines += ["", "Raw rows: `results.csv`; energy traces: `traces/*.npz`.", ""]
    return "\n".join(lines)


def write_markdown_report(store: RunStore) -> None:
    path = store.run_dir / "report.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render_markdown(store), encoding="utf-8")
    tmp.replace(path)
