"""Options several commands share."""

from __future__ import annotations

from pathlib import Path

import click

boards_dir_option = click.option(
    "--boards-dir", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
    help="A lab's own board files (<id>.yaml), searched before the project's boards/ "
         "(for a bench: instead of its boards_dir key).")
