"""`harness estimate MODEL --board B`: latency, energy per inference, arena and flash of one
model on one board before anything is built or flashed, each with where its constants come
from and how far off it is expected to be.

- Latency: the latency model (boards/latency_model.py) with the board's calibration
  (boards/calibrations/<board>.<kernels>.json, `harness calibrate`) when there is one,
  else the published constants. Ops without a cost are named with what was assumed.
- Energy per inference: supply voltage x the board's active current x the latency.
- Arena: the TFLM host runtime's smallest arena, and what the firmware is given
  (the same figure plus the margin `harness build` adds).
- Flash: the model's bytes plus the code of the QEMU images of this project
  (protocol core, TFLM and its kernels), measured; a hardware board's framework
  (HAL, Arduino core, ESP-IDF) is not counted.

The figures and their error statements are docs/boards.md's; `harness run --dry-run`
(run_estimate.py) takes its latencies from `board_latency` here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.boards.calibration import Calibration, find_calibration
from harness.boards.latency_model import LatencyEstimate, estimate, profile_for
from harness.config.board import BoardSpec
from harness.errors import ConfigError, HarnessError
from harness.firmware.model_embed import arena_with_margin
from harness.models.tflite_inspect import ModelInfo, inspect_tflite

# The published constants' one held-out test (docs/boards.md, "Calibration results"):
# VWW on the NUCLEO-L4R5ZI, predicted -14.5 % by constants fitted to IC, KWS and AD.
PUBLISHED_HELD_OUT_ERROR_PCT = -14.5
# Mean power x latency against the published energy of IC, KWS and AD on the
# NUCLEO-L4R5ZI (docs/boards.md, "Energy on the same board"): at most 3.2 % off.
POWER_MODEL_ERROR_PCT = 3.2
# Code besides the model in this project's QEMU images (text + data of the ELF minus the
# model's bytes; benchmarks/calibrate_qemu.py): AD (FULLY_CONNECTED only) the least,
# KWS and VWW the most; CMSIS-NN 47,300-99,872 B, TFLM's reference kernels 35,780-61,460 B.
QEMU_CODE_BYTES = {"cmsis-nn": (47_300, 99_872), "reference": (35_780, 61_460)}
# TFLM's arena on the emulated 32-bit Cortex-M4F against the 64-bit host runtime's, for
# the MLPerf models (HELLO's arena_used): 0.49 (reference kernels) and 0.56 (CMSIS-NN)
# for AD, whose arena is mostly per-tensor structs, 0.94-0.98 for IC, KWS and VWW.
TARGET_ARENA_RATIO = (0.49, 0.98)


@dataclass(frozen=True)
class Figure:
    value: float | None
    unit: str
    source: str                     # where its constants come from
    expected_error: str             # how far off it may be, and what says so
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BoardLatency:
    """The latency model's figure for one model on one board and kernel library."""

    estimate: LatencyEstimate
    unit: str                       # what the count counts: cycles, or QEMU's instructions
    calibration: Calibration | None
    source: str
    expected_error: str
    error_pct: float | None         # the largest known error (None: not measured)
    notes: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.estimate.seconds


@dataclass(frozen=True)
class ModelEstimate:
    model: str
    board: str
    kernels: str
    ops: int
    macs: int
    latency: Figure
    count: Figure                   # cycles (or instructions) per inference
    energy: Figure
    arena: Figure
    flash: Figure
    assumed: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def kernels_of(board: BoardSpec, kernels: str | None) -> str:
    """The kernel library to estimate with: the board's, or a choice it supports."""
    chosen = kernels or board.build.kernels
    profile_for(board.core, chosen)      # BoardError naming the known pairs
    return chosen


def board_latency(info: ModelInfo, board: BoardSpec, kernels: str | None = None,
                  calibration: Calibration | bool | None = True) -> BoardLatency:
    """Latency of ``info`` on ``board``: with its calibration if it has one (True), with
    the one given, or with the published constants (False)."""
    chosen = kernels_of(board, kernels)
    if calibration is True:
        calibration = find_calibration(board.id, chosen)
    elif calibration is False:
        calibration = None
    result = estimate(info, board.core, chosen, board.clock_hz, calibration)
    if calibration is not None:
        if (calibration.board, calibration.kernels) != (board.id, chosen):
            raise ConfigError(str(calibration.path or calibration.name), "board",
                              f"calibrates {calibration.board} with {calibration.kernels}, "
                              f"not {board.id} with {chosen}")
        worst = calibration.lomo_max_abs_pct
        folds = ", ".join(f"{m.model} {m.error_pct:+.1f} %" for m in calibration.models)
        return BoardLatency(
            result, calibration.unit, calibration, calibration.describe(),
            f"±{worst:.1f} %: the largest leave-one-model-out error of its calibration "
            f"({folds})", worst, _instruction_note(calibration.unit, board))
    profile = profile_for(board.core, chosen)
    notes: tuple[str, ...] = ()
    if board.cycle_counter.kind == "systick-icount":
        notes = (f"{board.id} counts instructions and has no calibration for {chosen}: these "
                 "are the published constants' cycles of a 2020 Cortex-M4F stack at its clock, "
                 "not instructions (harness calibrate, docs/boards.md)",)
    error: float | None = None
    stated = f"not measured: {profile.source}"
    if (board.core, chosen) == ("cortex-m4f", "cmsis-nn"):
        error = abs(PUBLISHED_HELD_OUT_ERROR_PCT)
        stated = (f"{PUBLISHED_HELD_OUT_ERROR_PCT:+.1f} % on the one model held out of the "
                  "fit (VWW on the NUCLEO-L4R5ZI, MLPerf Tiny v0.5); the fitted models within "
                  "0.1 %")
    return BoardLatency(result, "cycles", None,
                        f"published constants (docs/boards.md): {board.core} with {chosen}, "
                        f"{profile.source}", stated, error, notes)


def _instruction_note(unit: str, board: BoardSpec) -> tuple[str, ...]:
    if unit != "instructions":
        return ()
    return (f"a latency from instructions assumes one instruction per cycle at "
            f"{board.clock_hz / 1e6:g} MHz (QEMU has no cycle timing)",)


def estimate_model(model_path: Path, board: BoardSpec, kernels: str | None = None,
                   calibration: Calibration | bool | None = True) -> ModelEstimate:
    info = inspect_tflite(model_path)
    latency = board_latency(info, board, kernels, calibration)
    chosen = kernels_of(board, kernels)
    seconds = latency.seconds
    count = Figure(float(latency.estimate.total_cycles), latency.unit, latency.source,
                   latency.expected_error, latency.notes)
    return ModelEstimate(
        model=str(model_path), board=board.id, kernels=chosen, ops=len(info.ops),
        macs=info.total_macs,
        latency=Figure(seconds * 1e3, "ms", latency.source, latency.expected_error,
                       latency.notes),
        count=count, energy=_energy(board, seconds, latency.error_pct),
        arena=_arena(model_path), flash=_flash(info, board, chosen),
        assumed=latency.estimate.assumed)


def _energy(board: BoardSpec, seconds: float, latency_error: float | None) -> Figure:
    power = board.power
    joules = board.supply.voltage_v * power.active_current_a * seconds
    if latency_error is None:
        error = "not measured: the latency's error is unknown"
    elif board.id == "nucleo_l4r5zi":
        error = (f"±{latency_error + POWER_MODEL_ERROR_PCT:.1f} %: the latency's plus "
                 f"{POWER_MODEL_ERROR_PCT} % (mean power x latency against MLPerf Tiny v0.5's "
                 "measured energy on this board)")
    else:
        error = (f"at least the latency's ±{latency_error:.1f} %; the board's currents are "
                 "not checked against a measurement")
    return Figure(joules * 1e6, "uJ",
                  f"{board.supply.voltage_v:g} V x {power.active_current_a * 1e3:g} mA active x "
                  f"the latency; currents: {power.source}", error)


def _arena(model_path: Path) -> Figure:
    try:
        from harness.models.tflm_host import TflmHostModel

        host = TflmHostModel.load(model_path).arena_used_bytes
    except (ImportError, HarnessError) as exc:
        return Figure(None, "B", "TFLM host runtime", "", (f"not estimated: {exc}",))
    low, high = TARGET_ARENA_RATIO
    return Figure(float(host), "B", "the TFLM host runtime's smallest arena (64-bit host, "
                  "reference kernels)",
                  f"a 32-bit target uses less: {low:.0%}–{high:.0%} of it on the emulated "
                  "Cortex-M4F for the MLPerf models (the smaller the model, the less: its "
                  "per-tensor structs shrink); optimized kernels may ask for scratch on top, "
                  "which the firmware's margin covers",
                  (f"the firmware is given {arena_with_margin(host):,} B (plus an eighth and "
                   "4 KiB, harness build)",))


def _flash(info: ModelInfo, board: BoardSpec, kernels: str) -> Figure:
    code = QEMU_CODE_BYTES.get(kernels)
    if code is None:
        return Figure(float(info.file_bytes), "B", "the model file alone",
                      f"a lower bound: no code size measured with {kernels}",
                      ("the firmware's code is not counted",))
    low, high = code
    value = info.file_bytes + high
    notes = [f"model {info.file_bytes:,} B + code up to {high:,} B"]
    if board.kind != "qemu":
        notes.append(f"{board.id}'s framework (HAL, Arduino core, ESP-IDF) is not counted")
    return Figure(float(value), "B",
                  f"the model's bytes + the code of this project's QEMU images with {kernels} "
                  "(protocol core, TFLM, kernels; measured)",
                  f"at most {high - low:,} B over ({low:,}–{high:,} B of code, by the ops the "
                  f"model uses): -{(high - low) / value * 100:.0f} %…0 %", tuple(notes))


def fits(estimate_: ModelEstimate, board: BoardSpec) -> list[str]:
    """What does not fit the board (empty: everything does)."""
    out = []
    flash, arena = estimate_.flash.value, estimate_.arena.value
    if flash is not None and flash > board.memory.flash_bytes:
        out.append(f"flash {flash:,.0f} B > {board.memory.flash_bytes:,} B")
    if arena is not None and arena_with_margin(int(arena)) > board.memory.ram_bytes:
        out.append(f"arena {arena_with_margin(int(arena)):,} B > RAM "
                   f"{board.memory.ram_bytes:,} B")
    return out
