"""The board definitions a run measured with, kept in its folder as ``boards/<id>.yaml``.

A report or a submission made from the run later describes each board as it was
defined when the run measured it, and finds a lab's own definitions (``--boards-dir``,
a bench's ``boards_dir``) without the lab's folder at hand. A run from before these
copies has no ``boards/``: its boards are looked up as before (a lab's folder when
given, then the project's).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config.board import BoardSpec, board_file, load_board, search_path
from harness.results.store import write_atomic

if TYPE_CHECKING:  # the report and submission read copies only: no bench schema for them
    from harness.config.bench import Bench

log = logging.getLogger(__name__)
RUN_BOARDS = "boards"


def copy_board_files(bench: Bench, run_dir: Path) -> None:
    """Copy the definition file of every board the bench uses into ``run_dir/boards/``.

    A copy already there (a resumed run) stays: it is what the run's first jobs were
    measured with, and what its report describes. A definition that changed since is
    named in a warning, since the resumed jobs are measured with today's file."""
    folder = run_dir / RUN_BOARDS
    folder.mkdir(exist_ok=True)
    for board_def in sorted({board.id for board in bench.boards.values()}):
        text = board_file(board_def, search_path(bench.boards_dir)).read_text(encoding="utf-8")
        copy = folder / f"{board_def}.yaml"
        if not copy.is_file():
            write_atomic(copy, text)
        elif copy.read_text(encoding="utf-8") != text:
            log.warning("board definition %s changed since run %s started; its report keeps "
                        "the run's copy (%s), the jobs measured now use the new one",
                        board_def, run_dir.name, copy)


@dataclass(frozen=True)
class BoardLookup:
    """Where a run's board definitions are found: the run's own copies, then a lab's
    folder (``--boards-dir``), then the project's ``boards/``. Hashable, so a cache
    keyed on it keeps apart what different places hold."""

    run_dir: Path | None = None
    lab_dir: Path | None = None

    def folders(self) -> list[Path]:
        own = [] if self.run_dir is None else [self.run_dir / RUN_BOARDS]
        return [f for f in own if f.is_dir()] + search_path(self.lab_dir)

    def find(self, board_def: str) -> BoardSpec:
        """The definition; ConfigError (naming every folder looked in) when none has it."""
        return load_board(board_file(board_def, self.folders()))
