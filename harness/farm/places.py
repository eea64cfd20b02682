"""Which places may run which bench boards, and what `harness farm` shows.

A place serves a board definition when its labgrid tag ``board`` names it
(``labgrid-client -p PLACE set-tags board=nucleo_l4r5zi``): a bench board with
``place:`` must name such a place, and ``--farm`` spreads a definition's jobs over
every place so tagged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.config.bench import Bench
from harness.farm.coordinator import FarmClient, FarmError, Place
from harness.plan import plan_jobs

log = logging.getLogger(__name__)
TAG = "board"
RECLAIM_OPTION = "--reclaim-stale-places"


def check_place_tags(place: Place, definition: str, where: str) -> None:
    """FarmError unless ``place`` is tagged ``board=<definition>``."""
    tagged = place.tags.get(TAG)
    if tagged != definition:
        has = f"tagged {TAG}={tagged}" if tagged else f"has no {TAG} tag ({tags_text(place.tags)})"
        raise FarmError(f"{where}: place {place.name!r} {has}, but the bench board is a "
                        f"{definition}; tag it with labgrid-client -p {place.name} set-tags "
                        f"{TAG}={definition}, or name a place that holds a {definition}")


def check_left_behind(client: FarmClient, names: Iterable[str], reclaim: bool) -> None:
    """Places among ``names`` that this host and user still hold for a harness process
    that has ended (SIGKILLed before it could release them) are never waited for: they
    would never come free. Without ``reclaim``: FarmError naming each, its run and the
    command that releases it. With it: released (only while that holder still has
    them, labgrid's release-from) for this run to acquire. Places other users or live
    runs hold are left alone either way."""
    left = {name: record for name in names
            if (record := client.left_behind(name)) is not None}
    if reclaim:
        for name, record in left.items():
            log.warning("place %s: taking it back from harness run %s (pid %d, ended "
                        "without releasing it)", name, record.run or "?", record.pid)
            client.reclaim(name, record)
        return
    if left:
        raise FarmError("; ".join(
            f"place {name!r} is still acquired by {r.holder} (this host and user) for "
            f"harness run {r.run or '?'} (pid {r.pid}, since {r.since}), which ended without "
            f"releasing it; release it with labgrid-client -x {client.address} -p {name} "
            f"release-from {r.holder}" for name, r in left.items())
            + f"; or run again with {RECLAIM_OPTION} to take "
            + ("them" if len(left) > 1 else "it") + " back (--resume RUN finishes a killed run)")


def tags_text(tags: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(tags.items())) or "no tags"


@dataclass(frozen=True)
class Assignment:
    """Where a bench board's jobs would run."""

    board: str              # bench board id
    definition: str
    jobs: int
    places: tuple[str, ...]  # the places that may run them (empty: none can)
    note: str = ""


def plan_on_farm(bench: Bench, places: Mapping[str, Place], spread: bool) -> list[Assignment]:
    """Per bench board, the places its jobs would run on (``spread``: ``--farm``)."""
    counts: dict[str, int] = {}
    for job in plan_jobs(bench):
        counts[job.board.id] = counts.get(job.board.id, 0) + 1
    assignments = []
    for board in bench.spec.boards:
        definition = bench.boards[board.id].id
        if not spread and board.place is None:
            assignments.append(Assignment(board.id, definition, counts[board.id], (),
                                          "local board (no place)"))
            continue
        if spread:
            names = tuple(n for n, p in places.items() if p.tags.get(TAG) == definition)
            note = "" if names else f"no place is tagged {TAG}={definition}"
        else:
            assert board.place is not None
            names = (board.place,)
            note = ""
            if board.place not in places:
                names, note = (), f"no place {board.place!r}"
            elif places[board.place].tags.get(TAG) != definition:
                note = f"place {board.place!r} is not tagged {TAG}={definition}"
        lost = [n for n in names if places[n].lost]
        if lost:
            note = "; ".join([note] * bool(note) + [f"{n}: {places[n].lost}" for n in lost])
        assignments.append(Assignment(board.id, definition, counts[board.id], names, note))
    return assignments
