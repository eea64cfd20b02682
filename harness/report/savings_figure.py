"""What each variant saves against its model's reference variant: one bar panel per board."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from harness.report.figures import (
    TEXT_PT,
    WIDTH_IN,
    ReportFigure,
    declutter_ticks,
    embed,
    new_figure,
    renderer_of,
)
from harness.report.savings import SAVED, Saving

ROW_IN = 0.42
PANEL_COLUMNS = 2


def savings_figure(savings: list[Saving]) -> ReportFigure | None:
    if not savings:
        return None
    return embed(draw_savings(savings), "Variant savings",
                 " + ".join(sorted({s.source for s in savings})),
                 "Each variant against its model's reference on the same board (the 'Against' "
                 "column of the table: fp32, else as-is). Size is the model file; latency the "
                 "median; energy µJ per inference. A missing bar: not measured.")


def draw_savings(savings: list[Saving]) -> Figure:
    boards = list(dict.fromkeys(s.board for s in savings))
    groups = [[s for s in savings if s.board == b] for b in boards]
    columns = min(PANEL_COLUMNS, len(groups))
    rows = math.ceil(len(groups) / columns)
    heights = [max(len(g) for g in groups[r * columns:(r + 1) * columns]) for r in range(rows)]
    fig = new_figure(WIDTH_IN, ROW_IN * sum(heights) + 0.8 * rows + 0.9)
    axes = fig.subplots(rows, columns, squeeze=False, sharex=True,
                        gridspec_kw={"height_ratios": heights}).ravel()
    bar = 0.8 / len(SAVED)
    for i, (ax, group) in enumerate(zip(axes, groups, strict=False)):
        for k, (label, _) in enumerate(SAVED):
            # first saving at the top, the metrics in SAVED order from top to bottom
            ys = [len(group) - j + (1 - k) * bar for j in range(len(group))]
            ax.barh(ys, [s.percent[label] or 0.0 for s in group], height=bar, color=f"C{k}",
                    label=label)
        ax.set_yticks([len(group) - j for j in range(len(group))],
                      [f"{s.model}/{s.variant}" for s in group], fontsize=TEXT_PT)
        ax.set_ylim(0.4, heights[i // columns] + 0.6)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(f"{group[0].board}  [{' + '.join(sorted({s.source for s in group}))}]",
                     fontsize=10)
        ax.set_xlabel("% saved (negative: costs more)", fontsize=10)
        ax.tick_params(axis="x", labelsize=TEXT_PT, labelbottom=True)
        ax.grid(True, axis="x", alpha=0.3)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(SAVED), fontsize=TEXT_PT,
               frameon=False)
    declutter_ticks(fig, renderer_of(fig))
    return fig
