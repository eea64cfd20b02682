"""results/<run-id>/report.html: one self-contained file (inline CSS, PNG figures, no URLs)."""

from __future__ import annotations

import logging

from jinja2 import Environment, PackageLoader, StrictUndefined

from harness.errors import HarnessError
from harness.report.content import SOURCE_NOTE, ReportContent
from harness.report.figures import ReportFigure, accuracy_tradeoffs, savings_figure
from harness.report.latency_figure import latency_distributions
from harness.report.tables import MLPERF_RULES_NOTE
from harness.report.trace_figure import trace_excerpt
from harness.report.trend_figure import trend_figure
from harness.results.history import History

log = logging.getLogger(__name__)


def _environment() -> Environment:
    return Environment(loader=PackageLoader("harness.report", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(content: ReportContent, history: History | None = None) -> str:
    problems: list[str] = []
    run_dir = content.store.run_dir
    traces = []
    for line in content.lines:
        path = run_dir / "traces" / (line.key.replace("/", "__") + ".npz")
        if path.is_file():
            traces.append(_drawn(problems, f"trace {path.name}", trace_excerpt, path, line))
    trend = None
    if history is not None and history.path.is_file():
        trend = _drawn(problems, "trend", trend_figure, history, content.meta["bench"])
    return _environment().get_template("report.html.j2").render(
        c=content, source_note=SOURCE_NOTE.replace("**", ""), mlperf_note=MLPERF_RULES_NOTE,
        tradeoffs=accuracy_tradeoffs(content.lines),
        latency=_drawn(problems, "latency distributions", latency_distributions, run_dir,
                       content.lines),
        traces=[t for t in traces if t is not None],
        savings_figure=savings_figure(content.savings), trend=trend, problems=problems)


def _drawn(problems: list[str], what: str, draw, *args) -> ReportFigure | None:
    """A figure whose raw file is unreadable is named in the report, not fatal to it."""
    try:
        return draw(*args)
    except (HarnessError, OSError, ValueError) as exc:
        log.warning("report: %s not drawn: %s", what, exc)
        problems.append(f"{what} not drawn: {exc}")
        return None
