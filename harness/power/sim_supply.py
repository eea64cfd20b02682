"""The simulated board's supply: the other half of its virtual power wire.

The activity log (``sim_activity.py``) carries what the board draws to the
simulated monitor; this file carries the monitor's output state to the board:
one byte, ``1`` on, ``0`` off, replaced whole so a reader never sees half a
write. No file means no monitor switches this board: it is powered.
"""

from __future__ import annotations

import os
from pathlib import Path

ON, OFF = b"1", b"0"


def write_supply(path: Path, on: bool) -> None:
    """Switch the board's supply (the simulated monitor's ``set_output``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f"{path.name}.{os.getpid()}.new")
    staged.write_bytes(ON if on else OFF)
    staged.replace(path)


def supply_on(path: Path) -> bool:
    """Whether the board has power: on unless the file says off."""
    try:
        return path.read_bytes() != OFF
    except FileNotFoundError:
        return True
