"""results/<run-id>/report.html: one self-contained file (inline CSS, PNG figures, no URLs).

Read from the top: a one-screen summary (`glance.py`), then one figure per question
(trade-offs per board, latency across all jobs, savings, the trend), then the
tables. Trace excerpts: the first shown, the others per board in closed
<details>. Table columns with the same value in every row are said once in the
caption, so the tables fit the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from jinja2 import Environment, PackageLoader, StrictUndefined

from harness.errors import HarnessError
from harness.report.content import SOURCE_NOTE, ReportContent
from harness.report.figures import ReportFigure
from harness.report.glance import recoveries_text, regression_text
from harness.report.latency_figure import latency_figure
from harness.report.profile_section import profile_figure, profile_section
from harness.report.savings_figure import savings_figure
from harness.report.summary import SummaryLine
from harness.report.tables import MLPERF_RULES_NOTE, Column, Table
from harness.report.trace_figure import trace_excerpt
from harness.report.tradeoff_figure import scored_by_board, tradeoff_figure
from harness.report.trend_figure import trend_figure
from harness.results.history import History

log = logging.getLogger(__name__)
MESSAGE_CHARS = 240   # of a failed job's message in the summary (the full text is below)
SHOWN_ITEMS = 6       # per list in the summary (failed jobs, regressions, recoveries)


@dataclass(frozen=True)
class ShownTable:
    """A table as the page shows it: the varying columns, and those equal in every row."""

    table: Table
    columns: list[Column]
    same: list[tuple[str, str]]   # (column title, the value every row has)


def compact(table: Table) -> ShownTable:
    """Columns equal in every row (of two or more) go to the caption; source never does."""
    if len(table.rows) < 2:
        return ShownTable(table, table.shown, [])
    same = [c for c in table.shown
            if c.key != "source" and len({row[c.key].text for row in table.rows}) == 1]
    return ShownTable(table, [c for c in table.shown if c not in same],
                      [(c.title, table.rows[0][c.key].text) for c in same])


@dataclass(frozen=True)
class TraceGroup:
    board: str
    figures: list[ReportFigure]


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["compact"] = compact
    env.filters["recoveries"] = recoveries_text
    env.filters["regression"] = regression_text
    env.filters["clip"] = lambda text: (text if len(text) <= MESSAGE_CHARS
                                        else text[:MESSAGE_CHARS - 1] + "…")
    return env


def render_html(content: ReportContent, history: History | None = None) -> str:
    problems: list[str] = []
    run_dir = content.store.run_dir

    def with_caveats(figure: ReportFigure | None, lines: list[SummaryLine]
                     ) -> ReportFigure | None:
        refs = content.caveat_refs(lines)
        if figure is None or not refs:
            return figure
        return replace(figure, caption=f"{figure.caption} {refs}".strip())

    tradeoffs = [with_caveats(_drawn(problems, f"accuracy trade-offs on {board}",
                                     tradeoff_figure, board, mine), mine)
                 for board, mine in scored_by_board(content.lines).items()]
    traces: list[tuple[SummaryLine, ReportFigure]] = []
    for line in content.lines:
        path = run_dir / "traces" / (line.key.replace("/", "__") + ".npz")
        if path.is_file():
            figure = _drawn(problems, f"trace {path.name}", trace_excerpt, path, line,
                            bool(traces))
            if figure is not None:
                traces.append((line, with_caveats(figure, [line]) or figure))
    # per board, in the order boards first appear (jobs may alternate between boards)
    groups: dict[str, list[ReportFigure]] = {line.board: [] for line, _ in traces}
    for line, figure in traces[1:]:
        groups.setdefault(line.board, []).append(figure)
    profiles = profile_section(run_dir)
    trend = None
    if history is not None and history.path.is_file():
        trend = _drawn(problems, "trend", trend_figure, history, content.meta["bench"])
    return _environment().get_template("report.html.j2").render(
        c=content, g=content.glance, shown=SHOWN_ITEMS, source_note=SOURCE_NOTE.replace("**", ""),
        mlperf_note=MLPERF_RULES_NOTE, tradeoffs=[f for f in tradeoffs if f is not None],
        latency=with_caveats(_drawn(problems, "latency figure", latency_figure, run_dir,
                                    content.lines, content.boards), content.lines),
        first_trace=traces[0][1] if traces else None,
        trace_groups=[TraceGroup(board, figures) for board, figures in groups.items()
                      if figures],
        savings_figure=_drawn(problems, "savings figure", savings_figure, content.savings),
        profiles=profiles,
        profile_chart=_drawn(problems, "profile chart", profile_figure, profiles)
        if profiles else None,
        trend=trend, problems=problems)


def _drawn(problems: list[str], what: str, draw, *args) -> ReportFigure | None:
    """A figure whose raw file is unreadable is named in the report, not fatal to it."""
    try:
        return draw(*args)
    except (HarnessError, OSError, ValueError) as exc:
        log.warning("report: %s not drawn: %s", what, exc)
        problems.append(f"{what} not drawn: {exc}")
        return None
