"""Bench files: which boards, power monitors, models, variants and modes a run covers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.boards.driver import BOARD_DRIVERS
from harness.compress.variants import AS_IS, parse_variant
from harness.config.board import BoardSpec, Kernels, find_board
from harness.config.faults import FaultSpec
from harness.config.yaml_loader import read_yaml, validate
from harness.errors import ConfigError, HarnessError, ModelError
from harness.power.backend_params import MONITOR_BACKENDS

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BenchBoard(_Strict):
    id: str = Field(pattern=_ID, description="name of this board on the bench")
    board: str = Field(description="a definition in boards/<board>.yaml")
    kind: str | None = Field(default=None, description="override, e.g. sim")
    port: str = Field(default="auto", description="serial port/URL, or auto")
    serial_number: str | None = Field(default=None, description="USB serial number to pick a port")
    pace: Literal["instant", "realtime"] = Field(
        default="instant", description="realtime: a simulated board spends its modelled latency "
        "in wall time and its link carries no more than the board's serial rate")
    protocol: Literal["harness", "mlperf"] = Field(
        default="harness", description="what its firmware speaks: the harness's binary DUT "
        "protocol, or MLPerf Tiny's text protocol (docs/mlperf.md)")
    firmware: Literal["build", "preflashed"] = Field(
        default="build", description="build: the harness builds and flashes (or starts) it with "
        "each job's model; preflashed: it already runs its firmware, which is identified "
        "(HELLO's model hash, or name%/profile%) and never built or flashed")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="what the board's driver takes (a plugin's)")
    kernels: list[Kernels] | None = Field(
        default=None, min_length=1, description="kernel libraries to measure it with, one job "
        "each, where its build supports them (default: its board file's build.kernels)")
    place: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:+-]+$",
                              description="a labgrid place the board is in (docs/farm.md): "
                              "reserved and acquired through the coordinator, its serial port "
                              "opened over RFC 2217")


class BenchMonitor(_Strict):
    id: str = Field(pattern=_ID)
    backend: str = Field(description="a power monitor backend (docs/monitors.md) or a plugin's")
    powers: str = Field(description="id of the bench board this monitor supplies")
    sample_rate: float = Field(default=100_000.0, gt=0)
    supply_voltage: float | None = Field(default=None, gt=0, le=12)
    resource: str | None = Field(default=None,
                                 description="VISA resource, serial port or device id")
    params: dict[str, Any] = Field(default_factory=dict)


class BenchModel(_Strict):
    id: str = Field(pattern=_ID)
    path: str = Field(description="file path, mlperf:<file> or builtin:<name>")
    dataset: str = Field(default="generated",
                         description="digits, npz:<path>, mlperf:<dir>, generated")
    task: Literal["classification", "anomaly"] = "classification"
    optional: bool = Field(default=False, description="skip with a note when the file is absent")
    variants: list[str] | None = Field(default=None, min_length=1,
                                       description="this model's variants (default: the bench's)")


class PerformanceMode(_Strict):
    warmups: int = Field(default=2, ge=0, le=10_000)
    runs: int = Field(default=20, ge=1, le=100_000)


class AccuracyMode(_Strict):
    samples: int = Field(default=100, ge=1)
    seed: int = 0


class EnergyMode(_Strict):
    windows: int = Field(default=5, ge=2, description="energy windows (>= 2 for a CI)")
    inferences_per_window: int = Field(default=10, ge=1)
    idle_s: float = Field(default=0.2, ge=0.0, description="idle time before, between, after")


class MlperfMode(_Strict):
    """MLPerf Tiny's run rules (docs/mlperf.md): figures a submission can carry."""

    min_duration_s: float = Field(default=10.0, gt=0,
                                  description="each timed run lasts at least this, board timer")
    min_inferences: int = Field(default=10, ge=1, description="and has at least this many")
    inputs: int = Field(default=5, ge=1, description="performance runs, one dataset input each; "
                        "the figure is their median")
    energy_trials: int = Field(default=5, ge=1, description="energy runs, one input each; median")
    warmups: int = Field(default=0, ge=0, le=10_000,
                         description="untimed inferences before each timed run")
    accuracy: bool = Field(default=True, description="score the whole dataset (MLPerf's "
                           "accuracy set), never a held-out split")
    idle_s: float = Field(default=0.2, ge=0.0, description="idle between energy trials")


class ProfileMode(_Strict):
    """Per-layer profile: every op timed on the board (PROFILE, docs/protocol.md)."""

    runs: int = Field(default=3, ge=1, le=1000, description="profiled inferences, summed")
    warmups: int = Field(default=1, ge=0, le=10_000,
                         description="untimed inferences before the unprofiled reference runs")


class Modes(_Strict):
    performance: PerformanceMode | None = None
    accuracy: AccuracyMode | None = None
    energy: EnergyMode | None = None
    mlperf: MlperfMode | None = None
    profile: ProfileMode | None = None


MODES = ("performance", "accuracy", "energy", "mlperf", "profile")


class Thresholds(_Strict):
    """How much worse than the baseline a figure may get before `harness compare` fails."""

    latency_pct: float = Field(default=5.0, ge=0, description="allowed latency increase, %")
    energy_pct: float = Field(default=5.0, ge=0, description="allowed energy increase, %")
    accuracy_points: float = Field(default=1.0, ge=0,
                                   description="allowed accuracy drop, percentage points")


class BenchSpec(_Strict):
    name: str = Field(pattern=_ID)
    description: str = ""
    results_dir: str = "results"
    boards_dir: str | None = Field(default=None, description="a lab's own board files, "
                                   "relative to the bench file; searched before boards/")
    boards: list[BenchBoard] = Field(min_length=1)
    monitors: list[BenchMonitor] = Field(default_factory=list)
    models: list[BenchModel] = Field(min_length=1)
    variants: list[str] = Field(default_factory=lambda: ["as-is"], min_length=1)
    modes: Modes
    thresholds: Thresholds = Field(default_factory=Thresholds)
    faults: FaultSpec | None = Field(default=None, description="fault injection (sim/QEMU boards)")
    coordinator: str | None = Field(default=None, description="the labgrid coordinator, "
                                    "HOST[:PORT], of the bench's places and of --farm")
    history: str | None = Field(default=None, description="the run history: a SQLite path "
                                "(relative to the bench file) or a postgresql:// URL")

    @model_validator(mode="after")
    def _cross_references(self) -> BenchSpec:
        for field, ids in (("boards", [b.id for b in self.boards]),
                           ("monitors", [m.id for m in self.monitors]),
                           ("models", [m.id for m in self.models])):
            seen: set[str] = set()
            for i, item_id in enumerate(ids):
                if item_id in seen:
                    raise _FieldError(f"{field}[{i}].id", f"duplicate id {item_id!r}")
                seen.add(item_id)
        named = [("variants", self.variants)] + [
            (f"models[{i}].variants", m.variants) for i, m in enumerate(self.models) if m.variants]
        for where, names in named:
            for i, name in enumerate(names):
                if name != AS_IS:
                    try:
                        parse_variant(name)
                    except ModelError as exc:
                        raise _FieldError(f"{where}[{i}]", str(exc)) from None
        board_ids = {b.id for b in self.boards}
        powered: set[str] = set()
        for i, mon in enumerate(self.monitors):
            if mon.backend not in MONITOR_BACKENDS:
                raise _FieldError(f"monitors[{i}].backend", f"no power monitor backend "
                                  f"{mon.backend!r} (known: {', '.join(MONITOR_BACKENDS.names())})")
            if mon.powers not in board_ids:
                raise _FieldError(f"monitors[{i}].powers",
                                  f"no bench board {mon.powers!r} (boards: {sorted(board_ids)})")
            placed = next((b.place for b in self.boards if b.id == mon.powers), None)
            if mon.backend == "sim" and placed is not None:
                raise _FieldError(f"monitors[{i}].backend", (
                    f"a simulated monitor reads its board's power wire on this host; "
                    f"{mon.powers!r} is in labgrid place {placed!r}"))
            if mon.powers in powered:
                raise _FieldError(f"monitors[{i}].powers",
                                  f"board {mon.powers!r} already has a power monitor")
            powered.add(mon.powers)
        if self.faults is not None and self.faults.boards is not None:
            for i, name in enumerate(self.faults.boards):
                if name not in board_ids:
                    raise _FieldError(f"faults.boards[{i}]",
                                      f"no bench board {name!r} (boards: {sorted(board_ids)})")
        for i, board in enumerate(self.boards):
            if board.place is not None and board.port != "auto":
                raise _FieldError(f"boards[{i}].port", f"{board.id!r} is in labgrid place "
                                  f"{board.place!r}: its link is the place's serial port")
            if board.place is not None and self.faults is not None and \
                    self.faults.boards is not None and board.id in self.faults.boards:
                raise _FieldError(f"faults.boards[{self.faults.boards.index(board.id)}]",
                                  f"{board.id!r} is in labgrid place {board.place!r}: faults "
                                  "sit on links the harness starts")
            if board.firmware == "preflashed" and self.faults is not None and \
                    self.faults.boards is not None and board.id in self.faults.boards:
                raise _FieldError(f"faults.boards[{self.faults.boards.index(board.id)}]",
                                  f"{board.id!r} is preflashed: faults sit between a board "
                                  "the harness starts and the host")
            if board.protocol == "mlperf" and board.firmware == "preflashed" and \
                    self.modes.performance and self.modes.energy and \
                    self.monitor_for(board.id) is not None:
                raise _FieldError(f"boards[{i}].firmware", (
                    "a preflashed MLPerf Tiny DUT runs one timestamp mode: performance "
                    "(m-lap-us) needs its performance-mode firmware, energy (the timestamp "
                    "pin) its energy-mode firmware; measure them in two benches"))
            if board.protocol == "mlperf" and self.modes.profile is not None:
                raise _FieldError(f"boards[{i}].protocol", (
                    "modes.profile (per-layer profile) needs the harness's protocol (its PROFILE "
                    "command); MLPerf Tiny's text protocol has none"))
            if board.protocol == "mlperf" and self.modes.mlperf is not None and \
                    self.monitor_for(board.id) is not None:
                raise _FieldError(f"boards[{i}].protocol", (
                    "modes.mlperf on a board speaking MLPerf's text protocol measures "
                    "throughput and accuracy on its performance-mode firmware (m-lap-us); "
                    "the rules' energy runs are not measured on such a board, so no monitor "
                    f"may power {board.id!r} in this bench: measure its energy with "
                    "modes.energy in another bench"))
        if not (self.modes.performance or self.modes.accuracy or self.modes.energy
                or self.modes.mlperf or self.modes.profile):
            raise _FieldError("modes", "enable at least one of performance, accuracy, energy, "
                              "mlperf, profile")
        return self

    def variants_for(self, model: BenchModel) -> list[str]:
        return model.variants or self.variants

    def monitor_for(self, bench_board_id: str) -> BenchMonitor | None:
        return next((m for m in self.monitors if m.powers == bench_board_id), None)


class _FieldError(ValueError):
    """A cross-field check failed; carries the dotted field for the ConfigError."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Bench:
    """A validated bench file with its board definitions resolved."""

    def __init__(self, path: Path, spec: BenchSpec, boards: dict[str, BoardSpec],
                 boards_dir: Path | None = None) -> None:
        self.path = path
        self.spec = spec
        self.boards = boards  # bench board id -> definition (kind override applied)
        self.boards_dir = boards_dir  # where its own board files were looked for first

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def with_mlperf_rules(bench: Bench) -> Bench:
    """The bench with MLPerf Tiny's run rules on (``harness run --mlperf``): its own
    ``modes.mlperf`` settings if it has them, else the rules' defaults."""
    if bench.spec.modes.mlperf is not None:
        return bench
    data = bench.spec.model_dump()
    data["modes"]["mlperf"] = {}
    return Bench(bench.path, validate(BenchSpec, data, bench.path), bench.boards,
                 bench.boards_dir)


def load_bench(path: Path, boards_dir: Path | None = None) -> Bench:
    """Read and validate a bench file; every error names the file and the field.

    Board definitions come from ``boards_dir`` (``--boards-dir``), else the bench's
    ``boards_dir`` key, searched before the project's ``boards/``."""
    spec = validate(BenchSpec, read_yaml(path), path)
    if boards_dir is None and spec.boards_dir is not None:
        boards_dir = path.parent / Path(spec.boards_dir).expanduser()
        if not boards_dir.is_dir():
            raise ConfigError(str(path), "boards_dir", f"no folder {boards_dir}")
    return Bench(path, spec, _resolve_boards(path, spec, boards_dir), boards_dir)


def _resolve_boards(path: Path, spec: BenchSpec, boards_dir: Path | None) -> dict[str, BoardSpec]:
    resolved: dict[str, BoardSpec] = {}
    for i, bench_board in enumerate(spec.boards):
        try:
            board = find_board(bench_board.board, boards_dir)
        except ConfigError as exc:
            raise ConfigError(str(path), f"boards[{i}].board", exc.message) from None
        if bench_board.kind and bench_board.kind not in BOARD_DRIVERS:
            raise ConfigError(str(path), f"boards[{i}].kind", f"no board driver "
                              f"{bench_board.kind!r} (known: {', '.join(BOARD_DRIVERS.names())})")
        if bench_board.kind and bench_board.kind != board.kind:
            if bench_board.kind == "qemu" or board.kind == "qemu":
                raise ConfigError(str(path), f"boards[{i}].kind",
                                  f"{board.id} is a {board.kind} board; only 'sim' may override it")
            board = board.model_copy(update={"kind": bench_board.kind})
        if bench_board.firmware == "preflashed" and board.kind != "hardware" and \
                bench_board.port == "auto" and bench_board.place is None and \
                spec.coordinator is None:
            raise ConfigError(str(path), f"boards[{i}].port",
                              f"a preflashed {board.kind} board is not started by the harness: "
                              "give the port (or pyserial URL) its firmware serves, or its "
                              "labgrid place (boards[].place; a coordinator for --farm)")
        if bench_board.protocol == "mlperf" and bench_board.firmware == "build" and \
                board.kind != "sim" and spec.modes.energy and \
                spec.monitor_for(bench_board.id) is not None:
            raise ConfigError(str(path), f"boards[{i}].protocol",
                              "the harness's firmware answers MLPerf Tiny's text protocol in "
                              "performance mode only; measure energy with protocol harness, "
                              "or on a preflashed MLPerf energy-mode firmware")
        _check_driver_params(path, i, bench_board, board)
        _check_kernels(path, i, bench_board, board)
        resolved[bench_board.id] = board
    return resolved


def _check_kernels(path: Path, i: int, bench_board: BenchBoard, board: BoardSpec) -> None:
    """``boards[i].kernels``: each once, each one the board's build can run."""
    from harness.kernels import supported_kernels

    supported = supported_kernels(board)
    for j, kernels in enumerate(bench_board.kernels or []):
        if kernels in (bench_board.kernels or [])[:j]:
            raise ConfigError(str(path), f"boards[{i}].kernels[{j}]", f"{kernels!r} twice")
        if kernels not in supported:
            raise ConfigError(str(path), f"boards[{i}].kernels[{j}]", (
                f"{board.id} ({board.kind}, {board.build.system} build) runs "
                f"{' or '.join(supported)} only, not {kernels}"))


def _check_driver_params(path: Path, i: int, bench_board: BenchBoard, board: BoardSpec) -> None:
    """``boards[i].params`` against the schema of the board's driver."""
    try:
        schema = BOARD_DRIVERS.get(board.kind).params
    except HarnessError as exc:  # a plugin driver that does not load
        raise ConfigError(str(path), f"boards[{i}].kind", str(exc)) from None
    try:
        validate(schema, bench_board.params, path)
    except ConfigError as exc:
        raise ConfigError(str(path), f"boards[{i}].params" + (f".{exc.field}" if exc.field
                                                             else ""), exc.message) from None
