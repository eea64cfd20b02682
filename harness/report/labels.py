"""Numbered point labels that do not overlap: each beside its point, where nothing else is.

Points closer on screen than a marker are one label ("3,5–7"), so variants with
equal figures do not print over each other. Each label takes the first of a ring
of positions around its point that keeps it inside the axes and clear of every
marker and every label placed before it. Placement needs final pixel positions:
call it after the figure is laid out (`Figure.draw_without_rendering`); the labels
are kept out of the layout so saving the figure does not move the axes again.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

CLUSTER_PX = 7.0       # points nearer than this on screen share one label
MARKER_PX = 6.0        # half the side of the box a marker (or a front ring) occupies
LABEL_PAD_PX = 2.0
# (dx, dy) in points from the point, with the text alignment that keeps it on that side
_RING = [(1, 1, "left", "bottom"), (1, -1, "left", "top"), (-1, 1, "right", "bottom"),
         (-1, -1, "right", "top"), (0, 1.4, "center", "bottom"), (0, -1.4, "center", "top"),
         (1.3, 0, "left", "center_baseline"), (-1.3, 0, "right", "center_baseline")]
_RADII_PT = (6.0, 12.0, 20.0)


def number_list(numbers: Sequence[int]) -> str:
    """1,2,3,5 -> "1–3,5"."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ",".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


def cluster(pixels: Sequence[tuple[float, float]]) -> list[list[int]]:
    """Indices of points grouped with the first earlier point within CLUSTER_PX."""
    groups: list[list[int]] = []
    for i, (x, y) in enumerate(pixels):
        for group in groups:
            gx, gy = pixels[group[0]]
            if abs(gx - x) <= CLUSTER_PX and abs(gy - y) <= CLUSTER_PX:
                group.append(i)
                break
        else:
            groups.append([i])
    return groups


def label_points(ax: Axes, xs: Sequence[float], ys: Sequence[float], numbers: Sequence[int],
                 renderer: RendererBase, fontsize: float) -> list[Annotation]:
    """Put each point's number (or a cluster's numbers) beside it; return the labels."""
    pixels = [tuple(p) for p in ax.transData.transform(list(zip(xs, ys, strict=True)))]
    inside = ax.get_window_extent(renderer)
    taken = [Bbox.from_bounds(x - MARKER_PX, y - MARKER_PX, 2 * MARKER_PX, 2 * MARKER_PX)
             for x, y in pixels]
    labels = []
    for group in cluster(pixels):
        text = number_list([numbers[i] for i in group])
        anchor = (xs[group[0]], ys[group[0]])
        labels.append(_place(ax, text, anchor, renderer, fontsize, inside, taken))
    return labels


def _place(ax: Axes, text: str, anchor: tuple[float, float], renderer: RendererBase,
           fontsize: float, inside: Bbox, taken: list[Bbox]) -> Annotation:
    """The first free place on the ring; if there is none, the least covered one."""
    best: tuple[float, Annotation, Bbox] | None = None
    for radius in _RADII_PT:
        for dx, dy, ha, va in _RING:
            label = ax.annotate(text, anchor, xytext=(dx * radius, dy * radius),
                                textcoords="offset points", ha=ha, va=va, fontsize=fontsize,
                                annotation_clip=False, in_layout=False)
            box = label.get_window_extent(renderer).padded(LABEL_PAD_PX)
            cost = _outside(box, inside) + sum(_overlap(box, other) for other in taken)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, label, box)
            else:
                label.remove()
            if cost == 0:
                break
        if best is not None and best[0] == 0:
            break
    assert best is not None  # the ring is not empty
    taken.append(best[2])
    return best[1]


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


def _outside(box: Bbox, inside: Bbox) -> float:
    return box.width * box.height - _overlap(box, inside)
