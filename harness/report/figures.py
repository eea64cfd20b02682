"""Report figures drawn with matplotlib's object API (Agg, no pyplot state), embedded as PNG.

Every figure names its source (measured / emulated / simulated) in its title and
caption, like every table. Figures are drawn at 100 dpi and shown at their own
size, so 9-point text is what a reader sees at 100 % zoom. The PNGs are reduced
to a 64-colour palette: plots are flat colours, and a run of many jobs must still
give a report.html of a few hundred kB.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import Bbox
from PIL import Image

from harness.report.tables import short_number

DPI = 100
PALETTE_COLOURS = 64
TEXT_PT = 9          # tick labels and annotations: never smaller
WIDTH_IN = 11.4      # panels side by side: the page's width at 1,280 px (1,168 px of content)
LOG_SPAN = 10.0      # a value axis spanning more than this ratio is drawn logarithmic


@dataclass(frozen=True)
class ReportFigure:
    title: str
    source: str
    png_base64: str
    caption: str = ""
    key: tuple[str, ...] = ()   # what the figure's numbered labels stand for, in order


def embed(fig: Figure, title: str, source: str, caption: str = "",
          key: Sequence[str] = ()) -> ReportFigure:
    """PNG bytes inline; no 'Software' tag so the file names no URL."""
    suptitle(fig, title, source)
    return ReportFigure(title, source, base64.b64encode(png_bytes(fig)).decode("ascii"),
                        caption, tuple(key))


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure on the Agg canvas (which can measure text)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def renderer_of(fig: Figure) -> RendererBase:
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)   # new_figure's
    return canvas.get_renderer()


def suptitle(fig: Figure, title: str, source: str) -> None:
    """The figure's title with its source; a figure that lays out its own labels sets it
    first, and `embed` setting it again changes nothing."""
    fig.suptitle(f"{title}  [{source}]", fontsize=11)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    buf.seek(0)
    palette = Image.open(buf).convert("RGB").quantize(
        PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def value_axis(ax: Axes, which: str, low: float, high: float) -> bool:
    """Scale the ``which`` ("x" or "y") axis for values from ``low`` to ``high``; True when
    logarithmic (positive values spanning more than LOG_SPAN).

    A log axis gets labels at 1-2-5 in plain numbers and unlabelled minor ticks:
    matplotlib's default labels every minor tick in exponent form when the span is
    short, and those labels run into each other. `declutter_ticks` thins them
    further once the axes have their size.
    """
    axis = ax.xaxis if which == "x" else ax.yaxis
    log = low > 0 and high / low > LOG_SPAN
    if log:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_locator(_locators(log)[0])
    axis.set_major_formatter(FuncFormatter(lambda v, _: short_number(v)))
    return log


def _locators(log: bool) -> list[Locator]:
    """Tick choices for an axis, from the densest to the sparsest."""
    if log:
        return [*(LogLocator(10, subs=subs) for subs in ((1.0, 2.0, 5.0), (1.0, 3.0), (1.0,))),
                *(LogLocator(10, numticks=n) for n in (5, 3))]
    return [MaxNLocator(n) for n in (6, 5, 4, 3, 2)]


def declutter_ticks(fig: Figure, renderer: RendererBase) -> None:
    """Take sparser ticks on every value axis whose tick labels touch, until none do.

    Lays the figure out (`draw_without_rendering`) as often as it changes a locator.
    """
    fig.draw_without_rendering()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not isinstance(axis.get_major_formatter(), FuncFormatter):
                continue   # category labels (job names), not a value axis
            for locator in _locators(axis.get_scale() == "log"):
                if not labels_touch(tick_label_boxes(axis, renderer)):
                    break
                axis.set_major_locator(locator)
                fig.draw_without_rendering()


def tick_label_boxes(axis: Axis, renderer: RendererBase) -> list[Bbox]:
    """Where the tick labels drawn inside the view are, in pixels (after a draw)."""
    low, high = sorted(axis.get_view_interval())
    boxes = []
    for tick in axis.get_major_ticks():
        loc = tick.get_loc()
        if loc is None or not low <= loc <= high:
            continue
        boxes += [label.get_window_extent(renderer) for label in (tick.label1, tick.label2)
                  if label.get_visible() and label.get_text()]
    return boxes


def labels_touch(boxes: Sequence[Bbox], gap_px: float = 3.0) -> bool:
    padded_boxes = [b.padded(gap_px / 2) for b in boxes]
    return any(a.overlaps(b) for i, a in enumerate(padded_boxes) for b in padded_boxes[i + 1:])


def padded(low: float, high: float, log: bool, pad: float = 0.08) -> tuple[float, float]:
    """Limits with room around the extreme points (for their markers and labels)."""
    if log:
        ratio = (high / low) ** pad
        return low / ratio, high * ratio
    span = (high - low) or abs(high) or 1.0
    return low - span * pad, high + span * pad
