"""Everything a report says, gathered once from a run directory's saved files."""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.cards import Card, cards_table, load_cards
from harness.report.savings import Saving, savings_table, variant_savings
from harness.report.summary import SummaryLine, summarise
from harness.report.tables import Table, mlperf_tables, summary_table
from harness.results.store import RunStore

SOURCE_NOTE = ("Every figure carries its source: **measured** (real board and instrument), "
               "**emulated** (QEMU: instruction counts, not silicon), **simulated** (latency and "
               "power models over the TFLM host runtime; docs/boards.md).")


@dataclass
class ReportContent:
    store: RunStore
    meta: dict
    lines: list[SummaryLine]
    summary: Table
    mlperf: list[Table]
    savings: list[Saving]
    savings_table: Table | None
    cards: list[Card]
    cards_table: Table | None
    notes: list[str]
    skipped: list[tuple[str, str]]
    failed: list[tuple[str, str]]


def gather(store: RunStore) -> ReportContent:
    lines = summarise(store.read_rows())
    savings = variant_savings(lines)
    cards = load_cards(store.run_dir)
    outcomes = store.outcomes()
    return ReportContent(
        store=store, meta=store.metadata(), lines=lines, summary=summary_table(lines),
        mlperf=mlperf_tables(lines), savings=savings,
        savings_table=savings_table(savings) if savings else None, cards=cards,
        cards_table=cards_table(cards) if cards else None,
        notes=_caveats(lines),
        skipped=[(j, e["message"]) for j, e in outcomes.items() if e["status"] == "skipped"],
        failed=[(j, e["message"]) for j, e in outcomes.items()
                if e["status"] in ("failed", "partial")])


def _caveats(lines: list[SummaryLine]) -> list[str]:
    """Each caveat once, with the jobs it qualifies."""
    jobs: dict[str, list[str]] = {}
    for line in lines:
        for text in sorted(line.notes):
            jobs.setdefault(text, []).append(line.key)
    return [f"{text} ({', '.join(keys)})" for text, keys in sorted(jobs.items())]
