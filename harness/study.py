"""`harness study BENCH`: each compression technique over K training seeds, measured on boards.

For every model of the bench with a Keras source and every seed 0..K-1, the
compress pipeline builds one variant per technique (TECHNIQUES) with that seed
as its training seed (fine-tuning, distillation, clustering). Every build is
then measured as-is on the bench's boards in one `run_bench` run (its
performance and energy modes), so the study's run folder is an ordinary run
with its own report. Per (model, board, technique): accuracy (the card's TFLM
host-runtime top-1 on the held-out split, what a board computes), size
reduction (file bytes against the same seed's baseline), latency reduction
(median latency) and energy saving (energy per inference), each as a mean with
a 95 % t interval over the seeds; per metric a one-way ANOVA across the
techniques and Tukey's HSD between them (study_stats.py).

The baseline is the fp32 conversion of the source. A source the harness trains
(``builtin:digits``) is trained anew with each seed, on the same training split,
so every technique, the baseline included, varies with the seed; a source file
(a ``.h5``) is the same in every seed, and then conversion and post-training
int8 give the same file K times, varying only by what the board measures. A
technique that cannot be built for a seed is recorded with its reason and left
out of that seed; the others go on. A QEMU board is used only where TFLM_DIR
names a tflite-micro checkout.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.compress.pipeline import CompressRequest, build_variant, load_dataset_for
from harness.compress.sources import open_source
from harness.config.bench import AS_IS, Bench, BenchModel, BenchSpec
from harness.errors import ConfigError, ModelError
from harness.firmware.tflm_source import TFLM_ENV
from harness.models.resolve import compression_source, is_trained_here
from harness.results.metadata import new_run_id
from harness.results.store import RunStore
from harness.study_spec import METRICS, PUBLISHED, TECHNIQUES
from harness.study_stats import anova, mean_ci

log = logging.getLogger(__name__)

DEFAULT_SEEDS = 5
Progress = Callable[[str], None]


@dataclass(frozen=True)
class StudyOptions:
    out_dir: Path
    mlperf_dir: Path
    cache_dir: Path
    seeds: int = DEFAULT_SEEDS
    models: tuple[str, ...] = ()     # bench model ids; () means every model


@dataclass
class Build:
    model: str
    technique: str
    variant: str
    seed: int
    tflite: str | None
    error: str
    file_bytes: int | None = None
    macs: int | None = None
    accuracy: float | None = None    # % top-1 (TFLM host runtime), None without labels

    @property
    def job_model(self) -> str:
        return f"{self.model}.{self.technique}.s{self.seed}"


@dataclass
class Sample:
    model: str
    board: str
    source: str
    technique: str
    seed: int
    values: dict[str, float]         # metric -> value


@dataclass
class StudyResult:
    bench: str
    run_dir: Path
    seeds: int
    builds: list[Build]
    samples: list[Sample]
    retrained: dict[str, bool]       # model -> its source is trained anew with each seed
    boards_left_out: dict[str, str] = field(default_factory=dict)
    failed_jobs: dict[str, str] = field(default_factory=dict)

    def groups(self) -> list[tuple[str, str, str]]:
        """(model, board, source) in the order first measured."""
        seen: dict[tuple[str, str, str], None] = {}
        for s in self.samples:
            seen[(s.model, s.board, s.source)] = None
        return list(seen)

    def values(self, model: str, board: str, technique: str, metric: str) -> list[float]:
        return [s.values[metric] for s in self.samples if (s.model, s.board, s.technique) ==
                (model, board, technique) and metric in s.values]

    def summary(self) -> list[dict]:
        rows = []
        for model, board, source in self.groups():
            for technique, _ in TECHNIQUES:
                for metric, _ in METRICS:
                    values = self.values(model, board, technique, metric)
                    if values:
                        rows.append({"model": model, "board": board, "source": source,
                                     "technique": technique, "metric": metric,
                                     **asdict(mean_ci(values))})
        return rows

    def tests(self) -> list[dict]:
        out = []
        for model, board, source in self.groups():
            for metric, _ in METRICS:
                groups = {t: v for t, _ in TECHNIQUES
                          if (v := self.values(model, board, t, metric))}
                if groups:
                    result = anova(groups)
                    out.append({"model": model, "board": board, "source": source,
                                "metric": metric, **asdict(result),
                                "significant": result.significant})
        return out

    def to_json(self) -> dict:
        return {"bench": self.bench, "run_dir": str(self.run_dir), "seeds": self.seeds,
                "techniques": [{"technique": t, "variant": v} for t, v in TECHNIQUES],
                "published": PUBLISHED,
                "retrained": self.retrained, "boards_left_out": self.boards_left_out,
                "failed_jobs": self.failed_jobs,
                "builds": [asdict(b) for b in self.builds],
                "samples": [asdict(s) for s in self.samples],
                "summary": self.summary(), "tests": self.tests()}


def run_study(bench: Bench, options: StudyOptions, progress: Progress | None = None) -> StudyResult:
    from harness.run_bench import RunOptions, run_bench

    say = progress or (lambda _: None)
    if options.seeds < 1:
        raise ConfigError("--seeds", "", f"must be at least 1, got {options.seeds}")
    models = _chosen_models(bench, options.models)
    builds = [b for model in models for b in _build_model(bench, model, options, say)]
    retrained = {m.id: is_trained_here(m) for m in models}
    measured = [b for b in builds if b.tflite is not None]
    if not measured:
        raise ModelError("no technique could be built for any model: " + "; ".join(
            sorted({b.error for b in builds})))
    study_bench, left_out = _measurement_bench(bench, measured)
    say(f"measuring {len(measured)} builds on {len(study_bench.spec.boards)} boards")
    summary = run_bench(study_bench, RunOptions(
        results_dir=options.out_dir, mlperf_dir=options.mlperf_dir,
        cache_dir=options.cache_dir, run_id=new_run_id(study_bench.spec.name)))
    rows = RunStore(summary.run_dir).read_rows()
    return StudyResult(bench.spec.name, summary.run_dir, options.seeds, builds,
                       _samples(builds, rows), retrained, left_out,
                       {**summary.failed, **summary.skipped})


def _chosen_models(bench: Bench, ids: tuple[str, ...]) -> list[BenchModel]:
    known = {m.id: m for m in bench.spec.models}
    for model_id in ids:
        if model_id not in known:
            raise ConfigError(str(bench.path), "models", f"no model {model_id!r} "
                              f"(models: {', '.join(known)})")
    return [known[i] for i in ids] if ids else list(known.values())


def _build_model(bench: Bench, model: BenchModel, options: StudyOptions,
                 say: Progress) -> list[Build]:
    builds = []
    for seed in range(options.seeds):
        try:
            request = _request(bench, model, options, seed)
        except ModelError as exc:
            log.warning("model %r, seed %d: left out of the study: %s", model.id, seed, exc)
            builds += [Build(model.id, t, v, seed, None, f"model {model.id!r}: {exc}")
                       for t, v in TECHNIQUES]
            continue
        for technique, variant in TECHNIQUES:
            say(f"{model.id}: {technique} ({variant}), seed {seed}")
            outcome = build_variant(request, variant)
            build = Build(model.id, technique, variant, seed, None, outcome.error)
            if outcome.tflite is not None and outcome.card is not None and outcome.ok:
                card = json.loads(outcome.card.read_text())
                top1 = (card.get("accuracy") or {}).get("tflm")
                build.tflite = str(outcome.tflite)
                build.file_bytes, build.macs = card["file_bytes"], card["macs_total"]
                build.accuracy = None if top1 is None else 100.0 * top1
            builds.append(build)
    return builds


def _request(bench: Bench, model: BenchModel, options: StudyOptions,
             seed: int) -> CompressRequest:
    """What every technique of one seed is built from: the source model (a model the
    harness trains is trained with this seed; a file is the same in every seed)."""
    path = compression_source(model, bench.base_dir, options.mlperf_dir, options.cache_dir,
                              seed)
    name = model.path.partition(":")[2] if model.path.startswith("builtin:") else path.stem
    source = open_source(path, name=name)
    data = load_dataset_for(source, model.dataset, bench.base_dir, task=model.task)
    return CompressRequest(source, name, data, model.dataset, options.cache_dir, seed)


def _measurement_bench(bench: Bench, builds: list[Build]) -> tuple[Bench, dict[str, str]]:
    """The bench's boards and monitors with one as-is model per build; performance and
    energy modes only (accuracy comes from the cards)."""
    data = bench.spec.model_dump()
    left_out = {}
    boards = []
    for board in data["boards"]:
        if bench.boards[board["id"]].kind == "qemu" and not os.environ.get(TFLM_ENV):
            left_out[board["id"]] = f"a QEMU board runs TFLM, and {TFLM_ENV} is not set"
            continue
        boards.append(board)
    if not boards:
        raise ConfigError(str(bench.path), "boards", "none left to measure on ("
                          + "; ".join(f"{k}: {v}" for k, v in left_out.items()) + ")")
    by_id = {m.id: m for m in bench.spec.models}
    modes = {"performance": data["modes"]["performance"] or {"warmups": 2, "runs": 20},
             "energy": data["modes"]["energy"]}
    data.update(
        name=f"{bench.spec.name}-study", boards=boards, variants=[AS_IS],
        monitors=[m for m in data["monitors"] if m["powers"] in {b["id"] for b in boards}],
        modes={k: v for k, v in modes.items() if v is not None}, faults=None,
        models=[{"id": b.job_model, "path": b.tflite, "dataset": by_id[b.model].dataset,
                 "task": by_id[b.model].task} for b in builds])
    spec = BenchSpec.model_validate(data)
    boards_kept = {k: v for k, v in bench.boards.items() if k not in left_out}
    return Bench(bench.path, spec, boards_kept, bench.boards_dir), left_out


def _samples(builds: list[Build], rows: list[dict[str, str]]) -> list[Sample]:
    by_job = {b.job_model: b for b in builds}
    figures: dict[tuple[str, str], dict[str, float]] = {}
    sources: dict[str, str] = {}
    for row in rows:
        if row["model"] in by_job and row["metric"] in ("latency_median",
                                                        "energy_per_inference"):
            figures.setdefault((row["model"], row["board"]), {})[row["metric"]] = \
                float(row["value"])
            sources[row["board"]] = row["source"]
    samples = []
    for (job_model, board), got in figures.items():
        build = by_job[job_model]
        base = by_job.get(f"{build.model}.baseline.s{build.seed}")
        base_got = figures.get((base.job_model, board), {}) if base else {}
        values: dict[str, float] = {}
        if build.accuracy is not None:
            values["accuracy"] = build.accuracy
            if base is not None and base.accuracy:   # paired: the seed's own baseline
                values["accuracy_retention"] = 100.0 * build.accuracy / base.accuracy
        if base is not None and base.file_bytes and build.file_bytes is not None:
            values["size_reduction"] = 100.0 * (1.0 - build.file_bytes / base.file_bytes)
        for metric, key in (("latency_median", "latency_reduction"),
                            ("energy_per_inference", "energy_saving")):
            if metric in got and base_got.get(metric):
                values[key] = 100.0 * (1.0 - got[metric] / base_got[metric])
        samples.append(Sample(build.model, board, sources[board], build.technique,
                              build.seed, values))
    order = {t: i for i, (t, _) in enumerate(TECHNIQUES)}
    samples.sort(key=lambda s: (s.model, s.board, order[s.technique], s.seed))
    return samples

