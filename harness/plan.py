"""Expand a bench into jobs: one per bench board x model x variant."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config.bench import Bench, BenchBoard, BenchModel


@dataclass(frozen=True)
class Job:
    board: BenchBoard
    model: BenchModel
    variant: str

    @property
    def key(self) -> str:
        return f"{self.board.id}/{self.model.id}/{self.variant}"


def plan_jobs(bench: Bench) -> list[Job]:
    spec = bench.spec
    return [Job(board, model, variant)
            for board in spec.boards for model in spec.models
            for variant in spec.variants_for(model)]
