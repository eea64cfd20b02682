"""Everything a report says, gathered once from a run directory's saved files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.cards import Card, cards_table, load_cards
from harness.report.gate import load_gate
from harness.report.glance import Glance, glance
from harness.report.savings import Saving, savings_table, variant_savings
from harness.report.summary import SummaryLine, summarise
from harness.report.tables import Table, mlperf_tables, summary_table
from harness.results.run_boards import BoardLookup
from harness.results.store import RunStore

if TYPE_CHECKING:
    from harness.report.study_section import StudySection

SOURCE_NOTE = ("Every figure carries its source: **measured** (real board and instrument), "
               "**emulated** (QEMU: instruction counts, not silicon), **simulated** (latency and "
               "power models over the TFLM host runtime; docs/boards.md).")


@dataclass(frozen=True)
class Caveat:
    """A statement that qualifies some figures; numbered so figures can refer to it."""

    number: int
    text: str
    jobs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.text} ({', '.join(self.jobs)})"


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
    notes: list[Caveat]
    skipped: list[tuple[str, str]]
    glance: Glance
    boards: BoardLookup                 # where its board definitions are found
    study: StudySection | None = None   # harness study: the run folder's study.json

    def caveat_refs(self, lines: list[SummaryLine]) -> str:
        """"Caveats 1, 3 apply (Notes)." for the caveats of these lines, or ""."""
        keys = {line.key for line in lines}
        numbers = [c.number for c in self.notes if keys.intersection(c.jobs)]
        if not numbers:
            return ""
        return (f"Caveat{'s' * (len(numbers) > 1)} {', '.join(map(str, numbers))} "
                f"appl{'y' if len(numbers) > 1 else 'ies'} (see Notes).")


def gather(store: RunStore, lab_dir: Path | None = None) -> ReportContent:
    """``lab_dir``: a lab's own board files (``--boards-dir``), looked in after the run's
    copies (harness/results/run_boards.py) and before the project's ``boards/``."""
    lines = summarise(store.read_rows())
    boards = BoardLookup(store.run_dir, lab_dir)
    savings = variant_savings(lines)
    cards = load_cards(store.run_dir)
    outcomes = store.outcomes()
    return ReportContent(
        store=store, meta=store.metadata(), lines=lines, summary=summary_table(lines),
        mlperf=mlperf_tables(lines, boards), savings=savings,
        savings_table=savings_table(savings) if savings else None, cards=cards,
        cards_table=cards_table(cards) if cards else None,
        notes=_caveats(lines),
        skipped=[(j, e["message"]) for j, e in outcomes.items() if e["status"] == "skipped"],
        glance=glance(lines, outcomes, load_gate(store.run_dir)), boards=boards,
        study=_study(store))


def _study(store: RunStore) -> StudySection | None:
    from harness.report.study_section import study_section  # scipy: only for a study run

    return study_section(store.run_dir)


def _caveats(lines: list[SummaryLine]) -> list[Caveat]:
    """Each caveat once, with the jobs it qualifies."""
    jobs: dict[str, list[str]] = {}
    for line in lines:
        for text in sorted(line.notes):
            jobs.setdefault(text, []).append(line.key)
    return [Caveat(n, text, tuple(keys)) for n, (text, keys) in enumerate(sorted(jobs.items()), 1)]
