"""Expand a bench into jobs: one per bench board x kernel library x model x variant; narrow
it to some."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.config.bench import MODES, Bench, BenchBoard, BenchModel, BenchSpec
from harness.config.board import BoardSpec
from harness.config.yaml_loader import validate
from harness.errors import ConfigError
from harness.kernels import board_label, with_kernels


@dataclass(frozen=True)
class Job:
    board: BenchBoard
    model: BenchModel
    variant: str
    kernels: str | None = None      # one of the bench board's ``kernels`` (None: none listed)

    @property
    def board_label(self) -> str:
        """The board as rows name it: its bench id, with ``@<kernels>`` when it lists them."""
        return board_label(self.board.id, self.kernels)

    @property
    def key(self) -> str:
        return f"{self.board_label}/{self.model.id}/{self.variant}"


def plan_jobs(bench: Bench) -> list[Job]:
    spec = bench.spec
    return [Job(board, model, variant, kernels)
            for board in spec.boards for kernels in _kernels_of(board)
            for model in spec.models for variant in spec.variants_for(model)]


def _kernels_of(board: BenchBoard) -> list[str | None]:
    return list(board.kernels) if board.kernels else [None]


def job_board(bench: Bench, job: Job) -> BoardSpec:
    """The job's board definition, built with the job's kernel library."""
    return with_kernels(bench.boards[job.board.id], job.kernels)


@dataclass(frozen=True)
class Selection:
    """What `harness run --board/--model/--variant/--mode` keeps (empty: everything)."""

    boards: Sequence[str] = ()
    models: Sequence[str] = ()
    variants: Sequence[str] = ()
    modes: Sequence[str] = ()


def select(bench: Bench, chosen: Selection) -> Bench:
    """The bench with only the chosen boards, models, variants and modes. A name the bench
    does not have, or a choice that leaves no job, is a ConfigError naming the option."""
    spec = bench.spec
    _known("--board", chosen.boards, [b.id for b in spec.boards])
    _known("--model", chosen.models, [m.id for m in spec.models])
    _known("--variant", chosen.variants,
           list(dict.fromkeys(v for m in spec.models for v in spec.variants_for(m))))
    _known("--mode", chosen.modes, [m for m in MODES if getattr(spec.modes, m) is not None])
    data = spec.model_dump()
    if chosen.boards:
        data["boards"] = [b for b in data["boards"] if b["id"] in chosen.boards]
        data["monitors"] = [m for m in data["monitors"] if m["powers"] in chosen.boards]
        faults = data.get("faults")
        if faults and faults.get("boards") is not None:
            faults["boards"] = [b for b in faults["boards"] if b in chosen.boards]
    if chosen.models:
        data["models"] = [m for m in data["models"] if m["id"] in chosen.models]
    if chosen.variants:
        models = []
        for model in data["models"]:
            own = [v for v in (model["variants"] or spec.variants) if v in chosen.variants]
            if own:
                models.append({**model, "variants": own})
        data["models"] = models
    if chosen.modes:
        data["modes"] = {m: v for m, v in data["modes"].items() if m in chosen.modes}
    if not data["models"]:
        raise ConfigError("command line", "--model/--variant",
                          "no model of the bench has any of the chosen variants")
    narrowed = validate(BenchSpec, data, bench.path)
    return Bench(bench.path, narrowed,
                 {b.id: bench.boards[b.id] for b in narrowed.boards}, bench.boards_dir)


def _known(option: str, chosen: Sequence[str], known: list[str]) -> None:
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ConfigError("command line", option,
                          f"the bench has no {', '.join(map(repr, unknown))} (it has: "
                          f"{', '.join(known) or 'none'})")
