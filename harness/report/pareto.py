"""The Pareto front of (cost, accuracy) points: nothing else is cheaper and at least as good."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points on the front, by increasing cost.

    Lower cost and higher accuracy are better; a point is dominated when another
    is no worse on both and better on one. Ties on both keep the first.
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front
