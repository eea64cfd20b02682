"""A board's per-op cost constants, fitted from per-layer profiles (``harness calibrate``).

The latency model's published constants (latency_model.py) describe one 2020 stack;
a calibration replaces them, for one board and kernel library, with costs fitted to
that board's own per-op counts (``profiles/<job>.json`` of runs with
``modes.profile``: measured on hardware, emulated in QEMU; never simulated ones,
which are the latency model's own output).

The fit, in the board's counter units (cycles, or instructions in QEMU):

- **MAC ops** (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV) share one
  law, ``a x MACs + c x taps + b x output elements``: the multiply-accumulate loop;
  its entries (``taps``, MACs per input channel: one per output and filter position,
  where kernels pay loop set-up, bounds checks or im2col); and the per-output work
  (requantisation).
  Each op *kind* has its own factor on that law; law and factors are fitted together
  (alternating least squares), scaled so that the law alone gives the profiled MAC
  ops' total. Kinds follow the kernel paths a library picks by shape: a 1x1
  convolution with stride 1 (no im2col) is ``CONV_2D/1x1``, a strided one
  ``CONV_2D/1x1-strided``, any other ``CONV_2D/kxk``; float ops (reference kernels)
  get ``/float``. A kind never profiled takes its parent kind's factor (``CONV_2D``:
  all convolutions).
- **Other ops** are fitted per kind: pooling per input element (its windows),
  everything else per output element, each with a constant per op.
- Between the ops (interpreter dispatch), one constant per op: what an unprofiled
  inference took beyond the profiled ops' sum.
- An op kind no profile has (nor its parent) costs the published constant times
  ``prior_scale`` (the profiled counts over the published model's, on the profiled
  ops): the published constants' relative costs of op kinds are all that is known
  of it. Estimates name such ops.

Leave-one-model-out: every profiled model in turn is predicted by a calibration
fitted without it; the errors are stored and printed with the calibration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from harness.config.board import boards_dir
from harness.errors import ConfigError, HarnessError
from harness.models.tflite_inspect import OpInfo

FORMAT_VERSION = 1
MIN_MODELS = 3      # so that every leave-one-model-out fit still sees two models
MAC_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"})
POOL_OPS = frozenset({"AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"})
FLOAT_DTYPES = frozenset({"float32", "float16", "float64"})


class CalibrationError(HarnessError):
    """Profiles that cannot make a calibration; the message says why."""


def calibrations_dir() -> Path:
    return boards_dir() / "calibrations"


def calibration_path(board: str, kernels: str, folder: Path | None = None) -> Path:
    return (folder or calibrations_dir()) / f"{board}.{kernels}.json"


# ---- what an op is, for the fit ------------------------------------------------

@dataclass(frozen=True)
class OpSample:
    """One profiled op: its shape figures and what it took per inference."""

    op: str
    dtype: str
    macs: int
    output_elements: int
    input_elements: int
    kernel_shape: tuple[int, ...]
    stride: tuple[int, ...]
    cycles: float

    @property
    def taps(self) -> float:
        """MACs per input channel of a group: how often the innermost MAC loop is entered."""
        k = self.kernel_shape
        if self.op in ("CONV_2D", "TRANSPOSE_CONV") and len(k) == 4 and k[3]:
            return self.macs / k[3]
        if self.op == "FULLY_CONNECTED" and k and k[-1]:
            return self.macs / k[-1]
        return float(self.macs) if self.op == "DEPTHWISE_CONV_2D" else 0.0

    @classmethod
    def of(cls, op: OpInfo, cycles: float = 0.0) -> OpSample:
        return cls(op.name, op.dtype, op.macs, op.output_elements, op.input_elements,
                   tuple(op.kernel_shape), tuple(op.stride), cycles)


def kind_of(op: OpSample) -> str:
    """The op's kind as costs differ: its name, the 1x1 convolution paths, float."""
    kind = op.op
    if op.op == "CONV_2D":
        if len(op.kernel_shape) == 4 and op.kernel_shape[1:3] == (1, 1):
            kind += "/1x1" if op.stride in ((), (1, 1)) else "/1x1-strided"
        else:
            kind += "/kxk"
    return kind + "/float" if op.dtype in FLOAT_DTYPES else kind


def parent_of(kind: str) -> str | None:
    """The kind a kind falls back to: CONV_2D/1x1 -> CONV_2D, CONV_2D/kxk/float ->
    CONV_2D/float, FULLY_CONNECTED/float -> None."""
    parts = kind.split("/")
    if len(parts) > 1 and parts[-1] != "float":
        return parts[0]
    if len(parts) > 2:          # CONV_2D/1x1/float -> CONV_2D/float
        return f"{parts[0]}/float"
    return None


def _base_op(kind: str) -> str:
    return kind.split("/")[0]


# ---- the calibration -------------------------------------------------------------

#: the published latency model's cost of one op on the calibrated core and kernels
PriorCost = Callable[["OpSample"], float]

@dataclass(frozen=True)
class KindCost:
    """An op kind's cost: per_mac x MACs + per_tap x taps + per_output x outputs + per_input x
    inputs + per_op."""

    per_mac: float = 0.0
    per_tap: float = 0.0
    per_output: float = 0.0
    per_input: float = 0.0
    per_op: float = 0.0
    ops: int = 0                    # profiled ops it was fitted to

    def cost(self, op: OpSample) -> float:
        return (self.per_mac * op.macs + self.per_tap * op.taps
                + self.per_output * op.output_elements
                + self.per_input * op.input_elements + self.per_op)


@dataclass(frozen=True)
class ModelFold:
    """One profiled model, and how well a calibration without it predicts it."""

    model: str
    file: str
    sha256: str
    profiles: int
    measured: float                 # unprofiled counts per inference (mean of its profiles)
    predicted: float                # by the calibration fitted without this model
    unseen_kinds: tuple[str, ...]   # its op kinds no other model has

    @property
    def error_pct(self) -> float:
        return (self.predicted / self.measured - 1) * 100


@dataclass(frozen=True)
class Calibration:
    board: str
    kernels: str
    core: str
    counter: str
    unit: str
    source: str                     # measured | emulated
    mac_law: tuple[float, float, float]  # per MAC, per tap, per output element of MAC ops
    kinds: dict[str, KindCost]
    between_ops: float              # per op, outside the ops' own counts
    prior_scale: float              # these counts / the published latency model's
    models: tuple[ModelFold, ...]
    profiles: tuple[str, ...]       # the profiles it was fitted to: <run id>/profiles/<job>.json
    created: str = ""
    harness_version: str = ""
    path: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"{self.board}.{self.kernels}"

    @property
    def lomo_max_abs_pct(self) -> float:
        return max((abs(m.error_pct) for m in self.models), default=math.nan)

    def describe(self) -> str:
        where = str(self.path) if self.path else self.name
        errors = ", ".join(f"{m.model} {m.error_pct:+.1f} %" for m in self.models)
        return (f"calibration {where} ({self.source}, {len(self.profiles)} profiles of "
                f"{len(self.models)} models; leave-one-model-out: {errors})")

    def op_cost(self, op: OpSample, prior: PriorCost) -> tuple[float, str | None]:
        """(counts, None) for a profiled kind; (counts, what was assumed) otherwise."""
        return cost_of(op, self.kinds, self.prior_scale, prior)

    def predict(self, ops: Iterable[OpSample], prior: PriorCost) -> float:
        """An unprofiled inference: every op, and what lies between them."""
        costs = [self.op_cost(op, prior)[0] for op in ops]
        return sum(costs) + self.between_ops * len(costs)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        data["models"] = [asdict(m) | {"error_pct": m.error_pct} for m in self.models]
        return {"format": FORMAT_VERSION, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> Calibration:
        where = str(path or "calibration")
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ConfigError(where, "format", f"expected a calibration of format "
                              f"{FORMAT_VERSION}")
        try:
            return cls(
                board=str(data["board"]), kernels=str(data["kernels"]), core=str(data["core"]),
                counter=str(data["counter"]), unit=str(data["unit"]),
                source=str(data["source"]),
                mac_law=(float(data["mac_law"][0]), float(data["mac_law"][1]),
                         float(data["mac_law"][2])),
                kinds={str(k): KindCost(**v) for k, v in data["kinds"].items()},
                between_ops=float(data["between_ops"]),
                prior_scale=float(data["prior_scale"]),
                models=tuple(ModelFold(**{k: v for k, v in m.items() if k != "error_pct"}
                                       | {"unseen_kinds": tuple(m["unseen_kinds"])})
                             for m in data["models"]),
                profiles=tuple(data["profiles"]), created=str(data.get("created", "")),
                harness_version=str(data.get("harness_version", "")), path=path)
        except KeyError as exc:
            raise ConfigError(where, str(exc.args[0]), "missing") from None
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(where, "", f"not a calibration: {exc}") from None


def cost_of(op: OpSample, kinds: dict[str, KindCost], prior_scale: float,
            prior: PriorCost) -> tuple[float, str | None]:
    """An op's counts: its kind's cost, else its parent kind's, else the published
    constant times ``prior_scale``; with what was assumed."""
    kind = kind_of(op)
    looked: str | None = kind
    while looked is not None:
        if looked in kinds:
            return kinds[looked].cost(op), None if looked == kind else \
                f"{kind} not profiled: costed as {looked}"
        looked = parent_of(looked)
    return prior(op) * prior_scale, \
        f"{kind} not profiled: the published constant x {prior_scale:.3g}"


def load_calibration(path: Path) -> Calibration:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc}") from None
    except ValueError as exc:
        raise ConfigError(str(path), "", f"not JSON: {exc}") from None
    return Calibration.from_json(data, path)


def find_calibration(board: str, kernels: str, folder: Path | None = None
                     ) -> Calibration | None:
    """``boards/calibrations/<board>.<kernels>.json`` if there is one."""
    path = calibration_path(board, kernels, folder)
    return load_calibration(path) if path.is_file() else None


def save_calibration(calibration: Calibration, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(calibration.to_json(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# ---- fitting ------------------------------------------------------------------------

@dataclass(frozen=True)
class ProfiledModel:
    """What calibration needs of one profile document (profiles/<job>.json)."""

    path: str
    board: str
    kernels: str
    core: str
    counter: str
    unit: str
    source: str
    model: str
    sha256: str
    file: str
    unprofiled: float
    ops: tuple[OpSample, ...]

    @classmethod
    def of(cls, document: dict[str, Any]) -> ProfiledModel:
        where = document.get("path", "profile")
        try:
            ops = tuple(OpSample(o["op"], o["dtype"], int(o["macs"]), int(o["output_elements"]),
                                 int(o["input_elements"]), tuple(o["kernel_shape"]),
                                 tuple(o["stride"]), float(o["cycles"]))
                        for o in document["ops"])
            return cls(where, document["board_def"], document["kernels"], document["core"],
                       document["counter"], document["unit"], document["source"],
                       f"{document['model']}/{document['variant']}", document["model_sha256"],
                       document["model_file"], float(document["unprofiled_per_inference"]), ops)
        except KeyError as exc:
            raise CalibrationError(f"{where}: profile without {exc.args[0]!r}") from None


def fit_calibration(profiles: Sequence[ProfiledModel], prior: PriorCost,
                    created: str = "", harness_version: str = "") -> Calibration:
    """The calibration of one board and kernel library, with its leave-one-model-out errors.

    ``prior(op)`` is the published latency model's cost of an op on this core and
    kernels (for ``prior_scale``). Refuses mixed boards, simulated profiles and fewer
    than MIN_MODELS distinct models, saying why.
    """
    _check(profiles)
    by_model: dict[str, list[ProfiledModel]] = {}
    for p in profiles:
        by_model.setdefault(p.sha256, []).append(p)
    folds = []
    for sha, mine in by_model.items():
        others = [p for p in profiles if p.sha256 != sha]
        fold = _fit(others, prior)
        measured = float(np.mean([p.unprofiled for p in mine]))
        seen = {kind_of(o) for p in others for o in p.ops}
        folds.append(ModelFold(
            model=mine[0].model, file=mine[0].file, sha256=sha, profiles=len(mine),
            measured=measured, predicted=fold.predict(mine[0].ops, prior),
            unseen_kinds=tuple(sorted({kind_of(o) for o in mine[0].ops} - seen))))
    whole = _fit(profiles, prior)
    first = profiles[0]
    return Calibration(
        board=first.board, kernels=first.kernels, core=first.core, counter=first.counter,
        unit=first.unit, source=first.source, mac_law=whole.mac_law, kinds=whole.kinds,
        between_ops=whole.between_ops, prior_scale=whole.prior_scale, models=tuple(folds),
        # <run>/profiles/<job>.json: the run folder's name is its run id
        profiles=tuple("/".join(Path(p.path).parts[-3:]) for p in profiles), created=created,
        harness_version=harness_version)


@dataclass(frozen=True)
class _Fit:
    mac_law: tuple[float, float, float]
    kinds: dict[str, KindCost]
    between_ops: float
    prior_scale: float

    def predict(self, ops: Sequence[OpSample], prior: PriorCost) -> float:
        costs = [cost_of(op, self.kinds, self.prior_scale, prior)[0] for op in ops]
        return sum(costs) + self.between_ops * len(costs)


def _check(profiles: Sequence[ProfiledModel]) -> None:
    if not profiles:
        raise CalibrationError("no per-layer profiles to calibrate from: run a bench with "
                               "modes.profile on the board (profiles/<job>.json in its run "
                               "folder)")
    stacks = sorted({(p.board, p.kernels, p.counter) for p in profiles})
    if len(stacks) > 1:
        raise CalibrationError(
            "the profiles come from " + ", ".join(f"{b} with {k} ({c})" for b, k, c in stacks)
            + "; a calibration is one board and kernel library: choose with --board and "
              "--kernels")
    simulated = [p.path for p in profiles if p.source == "simulated"]
    if simulated:
        raise CalibrationError(f"{simulated[0]} is simulated: a simulated board's profile is "
                               "the latency model's own output; calibrate from measured or "
                               "emulated runs")
    models = sorted({p.model for p in profiles})
    distinct = {p.sha256 for p in profiles}
    if len(distinct) == 1:
        raise CalibrationError(
            f"all {len(profiles)} profiles are of one model ({models[0]}): one model cannot "
            "separate an op kind's cost from that model's layer shapes, and leaves no model "
            f"out to test the fit; profile at least {MIN_MODELS} different models")
    if len(distinct) < MIN_MODELS:
        raise CalibrationError(
            f"too few models: {len(distinct)} ({', '.join(models)}) in {len(profiles)} "
            f"profiles; a calibration needs at least {MIN_MODELS}, so that every "
            "leave-one-model-out fit still has two")


def _law(law: tuple[float, float, float], op: OpSample) -> float:
    return law[0] * op.macs + law[1] * op.taps + law[2] * op.output_elements


def _mac_law(mac: list[OpSample], rounds: int = 100) -> tuple[float, float, float]:
    """The shared law of the MAC ops, fitted with one factor per kind (alternating: the
    law given the factors, the factors given the law), scaled so that it alone gives
    their total."""
    if not mac:
        return 0.0, 0.0, 0.0
    factor = dict.fromkeys((kind_of(o) for o in mac), 1.0)
    law = (0.0, 0.0, 0.0)
    for _ in range(rounds):
        fitted = _nnls([[factor[kind_of(o)] * x for x in (o.macs, o.taps, o.output_elements)]
                        for o in mac], [o.cycles for o in mac])
        new = (fitted[0], fitted[1], fitted[2])
        for kind in factor:
            mine = [o for o in mac if kind_of(o) == kind]
            shared = sum(_law(new, o) for o in mine)
            factor[kind] = sum(o.cycles for o in mine) / shared if shared > 0 else 1.0
        if all(abs(n - o) <= 1e-12 * max(abs(o), 1e-30) for n, o in zip(new, law, strict=True)):
            break
        law = new
    total = sum(_law(law, o) for o in mac)
    scale = sum(o.cycles for o in mac) / total if total > 0 else 1.0
    return law[0] * scale, law[1] * scale, law[2] * scale


def _fit(profiles: Sequence[ProfiledModel], prior: PriorCost) -> _Fit:
    samples = [o for p in profiles for o in p.ops]
    mac_law = _mac_law([o for o in samples if _base_op(kind_of(o)) in MAC_OPS])
    kinds: dict[str, KindCost] = {}
    groups: dict[str, list[OpSample]] = {}
    for o in samples:
        kind: str | None = kind_of(o)
        while kind is not None:     # a sub-kind's ops also make its parent kind
            groups.setdefault(kind, []).append(o)
            kind = parent_of(kind)
    for kind, ops in groups.items():
        if _base_op(kind) in MAC_OPS:
            shared = sum(_law(mac_law, o) for o in ops)
            ratio = sum(o.cycles for o in ops) / shared if shared > 0 else 1.0
            kinds[kind] = KindCost(per_mac=mac_law[0] * ratio, per_tap=mac_law[1] * ratio,
                                   per_output=mac_law[2] * ratio,
                                   ops=len(ops))
        else:
            kinds[kind] = _element_cost(kind, ops)
    between = [(p.unprofiled - sum(o.cycles for o in p.ops)) / len(p.ops)
               for p in profiles if p.ops]
    predicted_prior = sum(prior(o) for o in samples)
    scale = sum(o.cycles for o in samples) / predicted_prior if predicted_prior > 0 else 1.0
    return _Fit(mac_law, kinds, float(np.mean(between)) if between else 0.0, scale)


def _element_cost(kind: str, ops: list[OpSample]) -> KindCost:
    """Pooling per input element, other ops per output element, both with a constant
    per op; one size profiled fits the element cost alone."""
    pool = _base_op(kind) in POOL_OPS
    size = [o.input_elements if pool else o.output_elements for o in ops]
    cycles = [o.cycles for o in ops]
    if len(set(size)) > 1:
        per_element, per_op = _nnls([[s, 1.0] for s in size], cycles)
    else:
        per_element, per_op = sum(cycles) / max(sum(size), 1), 0.0
    return KindCost(per_input=per_element if pool else 0.0,
                    per_output=0.0 if pool else per_element, per_op=per_op, ops=len(ops))


def _nnls(rows: list[list[float]], target: list[float]) -> list[float]:
    """Non-negative least squares, each op weighted by 1/sqrt(its counts): big ops do not
    drown small ones, nor the other way round."""
    if not rows:
        return []
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    w = 1.0 / np.sqrt(np.maximum(y, 1.0))
    coef, _ = nnls(x * w[:, None], y * w)
    return [float(c) for c in coef]
