"""A board in a labgrid place, driven like any other board (the `BoardDriver` interface).

Its link is the place's serial port as the exporter serves it through ser2net: an
RFC 2217 URL, the same one after a reset (``relink``). ``reset`` power-cycles the
board through the place's ``NetworkPowerPort`` with labgrid's own power driver for
the switch's model; a place without one has no reset. Flashing goes through the
place where it exports a way to: a board flashed over its serial port (esptool)
is uploaded to the RFC 2217 URL, which esptool speaks; any other board must be
``preflashed`` (the harness then checks the model its firmware reports).
Figures keep the label of the board's own kind (a simulated board behind a farm
stays ``simulated``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.boards.driver import BoardDriver, LinkHint, Source, create_driver
from harness.farm.coordinator import FarmClient, FarmError, Place

if TYPE_CHECKING:
    from harness.config.board import BoardSpec

log = logging.getLogger(__name__)

POWER_OFF_S = 1.0   # how long a power cycle leaves the board off


@dataclass(frozen=True)
class PlaceAccess:
    """An acquired place, as a job uses it."""

    name: str
    url: str                        # its serial port over RFC 2217
    power: dict | None              # the NetworkPowerPort's params (model, host, index)
    client: FarmClient

    @classmethod
    def of(cls, client: FarmClient, place: Place) -> PlaceAccess:
        power = place.first("NetworkPowerPort")
        return cls(place.name, client.serial_url(place.name),
                   dict(power.params) if power is not None else None, client)

    def lost(self) -> str | None:
        """Why the place can no longer run the job (its exporter went away, or the run
        released it on its way out: no power cycle may then touch a board that is
        someone else's), or None."""
        if not self.client.holds(self.name):
            return "the run released it (it is stopping)"
        try:
            place = self.client.place(self.name)
        except FarmError as exc:
            return str(exc)
        return place.lost

    def driver(self, board: BoardSpec, workdir: Path, link: LinkHint) -> BoardDriver:
        return PlaceDriver(board, workdir, link, self)


class PlaceDriver:
    """`BoardDriver` for a board in an acquired labgrid place."""

    def __init__(self, board: BoardSpec, workdir: Path, link: LinkHint,
                 place: PlaceAccess) -> None:
        self._board = board
        self._workdir = workdir
        self._place = place
        # the kind's own driver says what the figures are (constructors do no I/O)
        self._source: Source = create_driver(board, workdir, link).source
        self._firmware: tuple[int, int] | None = None

    @property
    def source(self) -> Source:
        return self._source

    def start(self, model: Path) -> str:
        board = self._board
        if board.flash.method != "esptool" or board.build.system != "platformio":
            raise FarmError(
                f"place {self._place.name!r}: exports no way to flash {board.id} "
                f"(flash method {board.flash.method}; through a place only boards flashed over "
                "their serial port, esptool, are flashed): mark the bench board preflashed")
        from harness.firmware.elf_size import elf_sizes
        from harness.firmware.pio_project import build_firmware
        from harness.firmware.platformio import upload

        firmware = build_firmware(board.build.env, model)
        log.info("flashing %s in place %s through %s", board.id, self._place.name,
                 self._place.url)
        upload(firmware.project, firmware.env, self._place.url)
        sizes = elf_sizes(firmware.elf)
        self._firmware = (sizes.flash_bytes, sizes.ram_bytes)
        return self._place.url

    def stop(self) -> None:
        """Nothing here: the place is released by whoever acquired it."""

    def firmware_size(self) -> tuple[int, int] | None:
        return self._firmware

    def reset(self) -> None:
        """Power-cycle the board through the place's power switch."""
        power = self._place.power
        if power is None:
            raise FarmError(f"place {self._place.name!r}: no power switch (NetworkPowerPort) "
                            f"to reset {self._board.id} with")
        lost = self._place.lost()
        if lost:
            raise FarmError(f"place {self._place.name!r}: lost: {lost}")
        log.warning("power-cycling %s in place %s", self._board.id, self._place.name)
        power_cycle(self._place.name, power)

    def relink(self, timeout: float) -> str:
        """The same RFC 2217 URL, while the place's exporter still serves it."""
        lost = self._place.lost()
        if lost:
            raise FarmError(f"place {self._place.name!r}: lost: {lost}")
        return self._place.url


def power_cycle(place: str, params: dict, off_s: float = POWER_OFF_S) -> None:
    """Off, wait, on, with labgrid's NetworkPowerDriver for the switch's model."""
    from labgrid import Target
    from labgrid.driver import NetworkPowerDriver
    from labgrid.resource import NetworkPowerPort

    target = Target(f"harness-{place}")
    try:
        NetworkPowerPort(target, name=None, model=params["model"], host=params["host"],
                         index=params.get("index", 0))
        power = NetworkPowerDriver(target, name=None, delay=float(off_s))
        target.activate(power)
        power.cycle()
    except Exception as exc:  # the switch's own errors (HTTP, SNMP, …)
        raise FarmError(f"place {place!r}: power cycle through {params.get('model')} "
                        f"{params.get('host')} failed: {exc}") from exc
    finally:
        target.deactivate_all_drivers()
