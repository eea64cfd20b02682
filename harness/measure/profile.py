"""Per-layer profile of one job (bench ``modes.profile``): every op's share of an inference.

The board times each op of ``runs`` inferences with its own counter (the PROFILE
command, docs/protocol.md: DWT or CCOUNT on hardware, instructions in QEMU, the
latency model's split on the simulated board). The same input is also timed with
INFER, without profiling, so the profile's own cost is measured in the same job:
profiled minus unprofiled counts per inference.

Each job leaves ``profiles/<job>.json`` (what `harness calibrate` and the report
read) and ``profiles/<job>.csv`` (index, op, MACs, cycles, share) in the run folder.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.config.bench import ProfileMode
from harness.config.board import BoardSpec
from harness.dut.messages import HelloInfo
from harness.dut.session import DutSession
from harness.errors import MeasurementError
from harness.models.tflite_inspect import ModelInfo, inspect_tflite
from harness.results.metadata import utc_now
from harness.results.rows import ResultRow, RowContext
from harness.results.store import RunStore, write_atomic

PROFILES_DIR = "profiles"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class OpCost:
    """One op of the model and what it took per inference, in the board's counter units."""

    index: int
    op: str
    dtype: str
    macs: int
    output_elements: int
    input_elements: int
    kernel_shape: tuple[int, ...]
    stride: tuple[int, ...]
    cycles: float
    share: float                    # of the ops' sum, 0…1


@dataclass(frozen=True)
class ModelProfile:
    runs: int
    ops: tuple[OpCost, ...]
    profiled: float                 # per inference, with every op timed
    unprofiled: float               # per inference, INFER of the same input (mean)

    @property
    def ops_total(self) -> float:
        return sum(o.cycles for o in self.ops)

    @property
    def overhead(self) -> float:
        """What timing every op added to an inference (counter units)."""
        return self.profiled - self.unprofiled

    @property
    def overhead_pct(self) -> float:
        return self.overhead / self.unprofiled * 100 if self.unprofiled else 0.0

    def costliest(self, n: int) -> list[OpCost]:
        return sorted(self.ops, key=lambda o: -o.cycles)[:n]


def measure_profile(session: DutSession, model: ModelInfo, input_data: bytes, runs: int,
                    warmups: int) -> ModelProfile:
    """Time the input unprofiled (INFER), then every op of ``runs`` profiled inferences."""
    session.upload(input_data)
    plain = session.infer(warmups, runs, per_run=True, want_output=False)
    measured = session.profile(runs)
    if len(measured.op_cycles) != len(model.ops):
        raise MeasurementError(f"the board profiled {len(measured.op_cycles)} ops; "
                               f"{model.path.name} has {len(model.ops)} in its main subgraph")
    per_op = measured.per_inference()
    total = sum(per_op) or 1.0
    ops = tuple(OpCost(o.index, o.name, o.dtype, o.macs, o.output_elements, o.input_elements,
                       o.kernel_shape, o.stride, c, c / total)
                for o, c in zip(model.ops, per_op, strict=True))
    unprofiled = float(np.mean(plain.cycles)) if plain.cycles else plain.total_cycles / runs
    return ModelProfile(runs, ops, measured.total_cycles / runs, unprofiled)


def profile_document(profile: ModelProfile, model: ModelInfo, meta: dict[str, Any]) -> dict:
    """profiles/<job>.json: the profile with the job's board, model and counter."""
    return {
        "format": FORMAT_VERSION, **meta,
        "model_file": model.path.name, "model_sha256": model.sha256,
        "runs": profile.runs, "unprofiled_per_inference": profile.unprofiled,
        "profiled_per_inference": profile.profiled, "ops_per_inference": profile.ops_total,
        "overhead_per_inference": profile.overhead, "overhead_pct": profile.overhead_pct,
        "ops": [asdict(o) for o in profile.ops],
    }


def write_profile(path_stem: Path, document: dict) -> tuple[Path, Path]:
    """``<stem>.json`` and the human table ``<stem>.csv``."""
    json_path, csv_path = path_stem.with_suffix(".json"), path_stem.with_suffix(".csv")
    write_atomic(json_path, json.dumps(document, indent=1) + "\n")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    unit = document.get("unit", "cycles")
    writer.writerow(["index", "op", "macs", unit, "share_pct"])
    for op in document["ops"]:
        writer.writerow([op["index"], op["op"], op["macs"], f"{op['cycles']:.1f}",
                         f"{op['share'] * 100:.2f}"])
    write_atomic(csv_path, buf.getvalue())
    return json_path, csv_path


def read_profiles(run_dir: Path) -> list[dict]:
    """Every job's profile document of a run folder (none: an empty list)."""
    folder = run_dir / PROFILES_DIR
    documents = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise MeasurementError(f"{path}: not a profile (invalid JSON: {exc})") from exc
        if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
            raise MeasurementError(f"{path}: not a profile of format {FORMAT_VERSION}")
        documents.append(document | {"path": str(path)})
    return documents


def counted_unit(counter: str) -> str:
    """What a board's counter counts: QEMU's SysTick under -icount counts instructions."""
    return "instructions" if counter == "systick-icount" else "cycles"


def profile_rows(profile: ModelProfile, document: dict, row: Any, time: str,
                 files: tuple[Path, Path]) -> list[ResultRow]:
    """The job's profile rows: the profile's own overhead, and the costliest op's share.

    ``row`` is the job's ``RowContext.row``; the per-op table is in ``files``.
    """
    unit = document["unit"]
    top = profile.costliest(1)
    where = f"per-op table: {files[1].parent.name}/{files[1].name}"
    simulated = ("simulated: the latency model's split of an inference, no profiling overhead "
                 "is modelled (the difference is run-to-run jitter); "
                 if document["source"] == "simulated" else "")
    rows = [row("profile", "profile_overhead", profile.overhead_pct, "%", time=time,
                n=profile.runs,
                notes=f"{simulated}{unit} per inference with every op timed "
                      f"{profile.profiled:,.0f}, without {profile.unprofiled:,.0f} "
                      f"({profile.overhead:+,.0f}); {where}"),
            row("profile", f"profiled_{unit}", profile.ops_total, unit, time=time,
                n=profile.runs, notes=f"sum over {len(profile.ops)} ops, per inference")]
    if top:
        rows.append(row("profile", "costliest_op_share", top[0].share * 100, "%", time=time,
                        n=profile.runs, notes=f"op {top[0].index} {top[0].op} "
                                              f"({top[0].macs:,} MACs)"))
    return rows


def profile_job(session: DutSession, hello: HelloInfo, model_path: Path, input_data: bytes,
                mode: ProfileMode, board: BoardSpec, job_key: str, ctx: RowContext,
                store: RunStore) -> list[ResultRow]:
    """A job's ``modes.profile``: measure, write profiles/<job>.json and .csv, return rows."""
    model = inspect_tflite(model_path)
    profile = measure_profile(session, model, input_data, mode.runs, mode.warmups)
    meta = {"job": job_key, "board": ctx.board, "board_def": board.id,
            "board_kind": board.kind, "source": ctx.source, "core": board.core,
            "kernels": board.build.kernels, "clock_hz": hello.clock_hz,
            "counter": hello.counter, "unit": counted_unit(hello.counter),
            "model": ctx.model, "variant": ctx.variant, "time": utc_now()}
    document = profile_document(profile, model, meta)
    files = write_profile(store.job_file(PROFILES_DIR, job_key, ""), document)
    return profile_rows(profile, document, ctx.row, utc_now(), files)
