"""A trace excerpt for the report: the power room's figure, windows recomputed from the saved trace.

The windows and the idle power do not depend on how many inferences a window
held, so one per window is assumed here; the µJ figures come from results.csv.
"""

from __future__ import annotations

from pathlib import Path

from harness.power.energy import measure_energy
from harness.power.figures import trace_excerpt_figure
from harness.power.trace import Trace
from harness.report.figures import ReportFigure, embed
from harness.report.summary import SummaryLine

SHOWN_WINDOWS = 2
FULL_SIZE = (8.0, 3.2)      # inches at 100 dpi: the first excerpt
SMALL_SIZE = (5.6, 2.6)     # the collapsed ones, two side by side at their own size


def trace_excerpt(trace_path: Path, line: SummaryLine, small: bool = False) -> ReportFigure:
    trace = Trace.load(trace_path)
    result = measure_energy(trace, inferences_per_window=1)
    fig = trace_excerpt_figure(trace, result, line.source, windows=SHOWN_WINDOWS)
    fig.set_size_inches(*(SMALL_SIZE if small else FULL_SIZE))
    (ax,) = fig.axes
    if (legend := ax.get_legend()) is not None:   # below the plot: inside it covers the trace
        legend.remove()
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2,
                   fontsize="small", frameon=False)
    return embed(fig, f"Trace excerpt: {line.key}", line.source,
                 f"{trace.instrument.get('model', 'monitor')} at {trace.sample_rate:g} S/s; "
                 f"the first {min(SHOWN_WINDOWS, result.n_windows)} of {result.n_windows} "
                 "marker windows shaded, idle power dashed.")
