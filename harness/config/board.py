"""Board definitions (``boards/*.yaml``): what a board is, not how a bench uses it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.boards.driver import BOARD_DRIVERS
from harness.config.yaml_loader import FieldError, read_yaml, validate
from harness.errors import ConfigError

Core = Literal["cortex-m4f", "cortex-m7", "cortex-m33", "xtensa-lx6"]
Kernels = Literal["cmsis-nn", "esp-nn", "reference"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Memory(_Strict):
    flash_bytes: int = Field(gt=0)
    ram_bytes: int = Field(gt=0)


class Build(_Strict):
    system: Literal["platformio", "qemu-make", "none"]
    env: str = Field(description="PlatformIO environment or QEMU make target")
    kernels: Kernels


class Flash(_Strict):
    method: Literal["sam-ba", "stlink", "esptool", "qemu", "none"]
    notes: str = ""


LinkTransport = Literal["uart-bridge", "usb-cdc", "emulated"]


class Serial(_Strict):
    baudrate: int = Field(gt=0)
    link: str = Field(description="what the link is physically, e.g. USB CDC, ST-LINK VCP, UART0")
    transport: LinkTransport = Field(
        default="uart-bridge",
        description="uart-bridge: paced at baudrate/10 bytes/s; usb-cdc: at usb_cdc_bytes_per_s")
    usb_cdc_bytes_per_s: int | None = Field(default=None, gt=0,
                                            description="what a native USB CDC link carries")
    usb_vid_pid: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$")
    resets_on_open: bool = False
    reset_line: Literal["rts", "none"] = Field(
        default="none",
        description="rts: the USB bridge's RTS drives the chip's reset (EN), as on the "
        "ESP32-DevKitC, so the host can reset a hung board; none: only a power-cycle or "
        "the RESET button can. Left out: rts when resets_on_open, else none")

    @model_validator(mode="before")
    @classmethod
    def _reset_line_default(cls, data: Any) -> Any:
        # a board that resets when its port opens has DTR/RTS wired to its reset
        if isinstance(data, dict) and "reset_line" not in data:
            return {**data, "reset_line": "rts" if data.get("resets_on_open") is True
                    else "none"}
        return data

    @model_validator(mode="after")
    def _cdc_rate(self) -> Serial:
        if self.transport == "usb-cdc" and self.usb_cdc_bytes_per_s is None:
            raise ValueError("a usb-cdc link needs usb_cdc_bytes_per_s (what it carries)")
        if self.transport == "usb-cdc" and self.reset_line == "rts":
            raise FieldError("reset_line", "a usb-cdc link is the MCU's own USB: there is "
                             "no bridge whose RTS could reach its reset (say none)")
        return self

    @property
    def bytes_per_s(self) -> float:
        """The most the link carries each way: 8N1 on a UART, the CDC rate on native USB."""
        if self.transport == "usb-cdc" and self.usb_cdc_bytes_per_s:
            return float(self.usb_cdc_bytes_per_s)
        return self.baudrate / 10.0


class CycleCounter(_Strict):
    kind: Literal["dwt", "ccount", "systick-icount", "model"]
    bits: Literal[24, 32, 64] = 32


class Marker(_Strict):
    pin: str
    active_high: bool = True


class Supply(_Strict):
    voltage_v: float = Field(gt=0, le=12)
    link_powers_board: bool = Field(
        default=False, description="the serial link's USB also powers the board (VBUS)")
    # A running MCU drains the board's tens of µF below its brown-out level in tens of
    # ms; 1 s also covers a firmware hung in a low-power wait, drawing little, on a
    # board with more capacitance. A board that holds its supply longer says so here.
    power_cycle_off_s: float = Field(
        default=1.0, gt=0, le=60,
        description="how long a power-cycle through a monitor leaves the board off")


class EnergyLink(_Strict):
    """How energy mode talks to the board while a monitor powers it (MLPerf EnergyRunner style)."""

    via: Literal["same-link", "isolator", "level-shifter"] = "same-link"
    pins: str = Field(default="", description="the board pins the energy-mode UART uses")
    baudrate: int | None = Field(default=None, gt=0,
                                 description="energy-mode baud rate (default: serial.baudrate)")


class PowerModel(_Strict):
    """Currents the simulated board draws (and the estimator predicts)."""

    active_current_a: float = Field(gt=0)
    idle_current_a: float = Field(ge=0)
    source: str = Field(description="where these figures come from")


class BoardSpec(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    kind: str = Field(default="hardware", description="hardware, qemu, sim or a plugin's "
                      "board driver (docs/architecture.md, Extensions)")
    mcu: str
    core: Core
    clock_hz: int = Field(gt=0)
    memory: Memory
    build: Build
    flash: Flash
    serial: Serial
    cycle_counter: CycleCounter
    marker: Marker
    supply: Supply
    power: PowerModel
    energy_link: EnergyLink = Field(default_factory=EnergyLink)

    @model_validator(mode="after")
    def _known_kind(self) -> BoardSpec:
        if self.kind not in BOARD_DRIVERS:
            raise FieldError("kind", f"no board driver {self.kind!r} (known: "
                             f"{', '.join(BOARD_DRIVERS.names())})")
        return self


def boards_dir() -> Path:
    """The project's ``boards/`` folder (beside the package in a source checkout)."""
    return Path(__file__).resolve().parents[2] / "boards"


def search_path(lab_dir: Path | None) -> list[Path]:
    """A lab's own board folder first (its files shadow ours of the same id), then ours."""
    return [lab_dir, boards_dir()] if lab_dir is not None else [boards_dir()]


def load_board(path: Path) -> BoardSpec:
    data = read_yaml(path)
    board = validate(BoardSpec, data, path)
    if board.id != path.stem:
        raise ConfigError(str(path), "id", f"must match the file name ({path.stem!r})")
    return board


def find_board(board_id: str, lab_dir: Path | None = None) -> BoardSpec:
    """Load ``<board_id>.yaml`` from ``lab_dir`` (a lab's own board files), else from the
    project's ``boards/``; an unknown id lists the known ones."""
    return load_board(board_file(board_id, search_path(lab_dir)))


def board_file(board_id: str, folders: Sequence[Path]) -> Path:
    """``<board_id>.yaml`` in the first of ``folders`` that has it; an unknown id lists the
    known ones."""
    for folder in folders:
        if (folder / f"{board_id}.yaml").is_file():
            return folder / f"{board_id}.yaml"
    known = ", ".join(sorted({p.stem for f in folders for p in f.glob("*.yaml")})) or "none"
    where = " or ".join(str(f) for f in folders)
    raise ConfigError(f"{board_id}.yaml", "", f"unknown board {board_id!r}: not in {where} "
                      f"(known boards: {known})")


def all_boards(lab_dir: Path | None = None) -> list[BoardSpec]:
    """Every board definition: a lab's own (``lab_dir``) and the project's, by id."""
    files: dict[str, Path] = {}
    for folder in reversed(search_path(lab_dir)):  # the lab's last: its files win
        files |= {p.stem: p for p in folder.glob("*.yaml")}
    return [load_board(files[board_id]) for board_id in sorted(files)]
