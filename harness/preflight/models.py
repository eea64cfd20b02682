"""Pre-flight of model files: TFLM loads each one, the firmware can register its ops, and it
fits every board it is planned on (arena in RAM, model in flash), numbers in the message.

Simulated and emulated boards model a real one, so they get the real board's limits.
The arena is what the firmware would be given (`arena_with_margin` of the host
runtime's smallest arena); the firmware's own RAM and code come on top, so a
model that passes may still not fit, while one that fails cannot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.config.bench import Bench
from harness.config.board import BoardSpec
from harness.errors import ModelError
from harness.firmware.model_embed import RESOLVER_OPS, arena_with_margin
from harness.models.resolve import ResolvedModel
from harness.models.tflite_inspect import ModelInfo, inspect_tflite
from harness.plan import plan_jobs
from harness.preflight.findings import Finding, Level
from harness.preflight.packages import TFLM, installed

ModelKey = tuple[str, str]  # (model id, variant)


@dataclass(frozen=True)
class ModelFacts:
    """What pre-flight learnt about one file (shared by every job that measures it)."""

    info: ModelInfo | None
    host_arena: int | None  # the TFLM host runtime's smallest arena, bytes
    problems: tuple[tuple[Level, str], ...]


def model_facts(path: Path) -> ModelFacts:
    problems: list[tuple[Level, str]] = []
    try:
        info = inspect_tflite(path)
    except ModelError as exc:
        return ModelFacts(None, None, (("error", str(exc)),))
    missing = [op for op in info.op_names if op not in RESOLVER_OPS]
    if missing:
        problems.append(("error", f"{path.name}: the firmware's op resolver cannot register "
                                  f"{', '.join(missing)} (TFLM's MicroMutableOpResolver has no "
                                  "method for it; custom ops are not supported)"))
    if info.subgraphs > 1:
        problems.append(("warning", f"{path.name}: {info.subgraphs} subgraphs; the firmware "
                                    "registers only the ops of the main one"))
    host_arena = None
    if installed(TFLM):  # else check_packages has said what to install
        from harness.models.tflm_host import TflmHostModel

        try:
            host_arena = TflmHostModel.load(path).arena_used_bytes
        except ModelError as exc:
            problems.append(("error", str(exc)))  # names the file and what TFLM said
    return ModelFacts(info, host_arena, tuple(problems))


def check_models(bench: Bench, models: Mapping[ModelKey, ResolvedModel]) -> list[Finding]:
    """Findings for every located model file, and per job whether it fits its board."""
    facts: dict[Path, ModelFacts] = {}
    path = str(bench.path)
    index = {m.id: i for i, m in enumerate(bench.spec.models)}
    findings: list[Finding] = []
    for (model_id, variant), resolved in models.items():
        field = f"models[{index[model_id]}].path"
        if resolved.path is None:
            findings.append(Finding("note", path, field,
                                    f"variant {variant}: skipped: {resolved.skip_reason}"))
            continue
        if resolved.path not in facts:
            facts[resolved.path] = model_facts(resolved.path)
        findings += [Finding(level, path, field, f"variant {variant}: {message}")
                     for level, message in facts[resolved.path].problems]
    for job in plan_jobs(bench):
        job_model = models.get((job.model.id, job.variant))
        if job_model is None or job_model.path is None:
            continue
        board = bench.boards[job.board.id]
        for message in _does_not_fit(facts[job_model.path], board):
            findings.append(Finding("error", path, f"models[{index[job.model.id]}].path",
                                    f"variant {job.variant} on board {job.board.id!r}: "
                                    f"{message}"))
    return findings


def _does_not_fit(facts: ModelFacts, board: BoardSpec) -> list[str]:
    out: list[str] = []
    memory = board.memory
    if facts.info is not None and facts.info.file_bytes > memory.flash_bytes:
        out.append(f"the model is {facts.info.file_bytes:,} bytes, more than {board.id}'s flash "
                   f"({memory.flash_bytes:,} bytes)")
    if facts.host_arena is not None:
        arena = arena_with_margin(facts.host_arena)
        if arena > memory.ram_bytes:
            out.append(f"the firmware's TFLM arena is {arena:,} bytes (the host runtime's "
                       f"{facts.host_arena:,} plus the kernels' scratch margin), more than "
                       f"{board.id}'s RAM ({memory.ram_bytes:,} bytes)")
    return out
