"""`harness submission`: a run's rule-mode records as an MLPerf Tiny submission tree.

The tree is the one MLCommons' submission checker (tools/submission/
submission_checker.py) walks::

    <out>/<division>/<submitter>/
        systems/<system>.json
        results/<system>/<benchmark>/{performance,accuracy[,energy]}/
            results.txt  results.json  log.txt
        code/tinyml-harness/<run-id>.md     how the figures were made

One system per board definition and variant (``NUCLEO-L4R5ZI``,
``NUCLEO-L4R5ZI_int8``); ``<benchmark>`` is ``ad``, ``ic``, ``kws`` or ``vww``.
A job goes in only if a submission may carry it: it finished, it is an MLPerf
Tiny benchmark, its accuracy was scored on a whole ``mlperf:`` dataset folder,
it ran under MLPerf's rule sizes, and (closed division) it measured the model
as it is. Figures that are not measured are refused unless asked for; then
every place a reader or the checker looks says what they are (docs/mlperf.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.compress.variants import AS_IS
from harness.config.board import BoardSpec
from harness.errors import ConfigError, HarnessError
from harness.results.mlperf_record import MlperfRecord, load_records
from harness.results.run_boards import BoardLookup
from harness.results.store import METADATA_JSON, RunStore, write_atomic
from harness.submission.runner_files import (
    TestFiles,
    accuracy_files,
    energy_files,
    performance_files,
)
from harness.submission.system_desc import MEASURED, system_description, unmeasured_note

DIVISIONS = ("closed", "open")
STATUSES = ("available", "preview", "rdi")
#: the benchmarks a submission folder may hold (sww streams audio: not measured here)
SUBMITTABLE = ("ad", "ic", "kws", "vww")
#: MLPerf Tiny's closed-division quality targets, as the checker holds them
TARGETS = {"ad": ("auc", 0.85), "ic": ("top1", 85.0), "kws": ("top1", 90.0),
           "vww": ("top1", 80.0)}
#: the rule sizes of a valid run: at least these seconds and inferences, exactly
#: these numbers of inputs and energy trials
MIN_RULES = {"min_duration_s": 10.0, "min_inferences": 10}
EXACT_RULES = {"inputs": 5, "energy_trials": 5}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CODE_FOLDER = "tinyml-harness"


@dataclass(frozen=True)
class SubmissionOptions:
    out: Path
    submitter: str
    division: str = "closed"
    status: str = "available"
    benchmarks: dict[str, str] = field(default_factory=dict)  # model id -> benchmark
    allow_unmeasured: bool = False
    #: a lab's own board files, looked in after the run's copies (RUN_DIR/boards/)
    boards_dir: Path | None = None


@dataclass(frozen=True)
class WrittenBenchmark:
    job: str
    system: str
    benchmark: str
    folder: Path
    tests: tuple[str, ...]


@dataclass
class SubmissionSummary:
    root: Path                                  # <out>/<division>/<submitter>
    written: list[WrittenBenchmark] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)   # job -> why it is not in
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    record: MlperfRecord
    benchmark: str
    board: BoardSpec


def write_submission(run_dir: Path, options: SubmissionOptions) -> SubmissionSummary:
    """Write what a submission may carry of ``run_dir``; nothing when anything is wrong."""
    _check_options(options)
    if not (run_dir / METADATA_JSON).is_file():
        raise HarnessError(f"{run_dir}: not a run folder (no {METADATA_JSON})")
    records = load_records(run_dir)
    if not records:
        raise HarnessError(f"{run_dir}: no MLPerf rule-mode records (mlperf/*.json); run the "
                           "bench with modes.mlperf or `harness run --mlperf`")
    done = RunStore(run_dir).completed_jobs()
    unmeasured = [r for r in records if r.source != MEASURED and r.job in done]
    if unmeasured and not options.allow_unmeasured:
        raise HarnessError(
            "refusing to write figures that are not measured as a submission: "
            + ", ".join(f"{r.job} ({r.source})" for r in unmeasured)
            + "; --allow-unmeasured writes them, marked as such in every file")
    summary = SubmissionSummary(options.out / options.division / options.submitter)
    entries: dict[tuple[str, str], _Entry] = {}
    boards = BoardLookup(run_dir, options.boards_dir)
    names = _system_names(records, boards)
    for record in records:
        entry_or_reason = _admit(record, done, options, boards)
        if isinstance(entry_or_reason, str):
            summary.skipped[record.job] = entry_or_reason
            continue
        key = (names[record.job], entry_or_reason.benchmark)
        if key in entries:
            summary.skipped[record.job] = (f"{entries[key].record.job} already gives "
                                           f"{key[0]}/{key[1]}")
            continue
        entries[key] = entry_or_reason
    if not entries:
        raise HarnessError("nothing in " + str(run_dir) + " can be submitted: " + "; ".join(
            f"{job}: {why}" for job, why in summary.skipped.items()))
    _refuse_existing(summary.root, {system for system, _ in entries})
    summary.warnings = [w for e in entries.values() if (w := _below_target(e, options))]
    _write(summary, entries, options, run_dir)
    return summary


def _check_options(options: SubmissionOptions) -> None:
    if options.division not in DIVISIONS:
        raise ConfigError("--division", "", f"{options.division!r} is not one of {DIVISIONS}")
    if options.status not in STATUSES:
        raise ConfigError("--status", "", f"{options.status!r} is not one of {STATUSES}")
    if not _NAME.match(options.submitter):
        raise ConfigError("--submitter", "", f"{options.submitter!r}: letters, digits, '_', "
                          "'.' and '-' only (it names a folder the checker walks)")
    for model, benchmark in options.benchmarks.items():
        if benchmark not in SUBMITTABLE:
            raise ConfigError("--benchmark", model, f"{benchmark!r} is not one of "
                              f"{SUBMITTABLE}")


def _admit(record: MlperfRecord, done: set[str], options: SubmissionOptions,
           boards: BoardLookup) -> _Entry | str:
    """The record as a submission entry, or why a submission cannot carry it."""
    if record.job not in done:
        return "the job did not finish (jobs.jsonl has no 'done' for it)"
    benchmark = options.benchmarks.get(record.model, record.benchmark)
    if benchmark is None:
        return (f"model {record.model} names no MLPerf Tiny benchmark (an mlperf:ic01… model "
                f"or dataset); say which with --benchmark {record.model}=ic|kws|vww|ad")
    if benchmark not in SUBMITTABLE:
        return f"benchmark {benchmark} is not one the rule mode measures ({SUBMITTABLE})"
    if not record.dataset.startswith("mlperf:"):
        return (f"accuracy must come from MLPerf's accuracy set (an mlperf: dataset folder), "
                f"not {record.dataset}")
    if record.accuracy is None or not record.performance:
        return "a submission needs both performance and accuracy; this record lacks accuracy"
    rules = record.rules
    wrong = [f"{k}={rules.get(k)} (needs ≥ {v:g})" for k, v in MIN_RULES.items()
             if float(rules.get(k, 0)) < v]
    wrong += [f"{k}={rules.get(k)} (needs {v})" for k, v in EXACT_RULES.items()
              if rules.get(k) != v and (k != "energy_trials" or record.energy)]
    if not rules.get("accuracy", False):
        wrong.append("accuracy off")
    if wrong:
        return "run rules differ from MLPerf Tiny's: " + ", ".join(wrong)
    if options.division == "closed" and record.variant != AS_IS:
        return (f"the closed division takes the reference model as it is; variant "
                f"{record.variant} belongs in --division open")
    try:
        board = boards.find(record.board_def)
    except ConfigError as exc:
        return f"no board definition for its system description: {exc}"
    return _Entry(record, benchmark, board)


def _system_names(records: list[MlperfRecord], lookup: BoardLookup) -> dict[str, str]:
    """Job -> system folder: the board's name, then the variant and an unmeasured source;
    two bench boards of one definition also get their bench id."""
    base: dict[str, str] = {}
    boards: dict[str, set[str]] = {}
    for r in records:
        name = _board_name(r, lookup) or r.board_def
        if r.variant != AS_IS:
            name += f"_{r.variant}"
        if r.source != MEASURED:
            name += f"_{r.source}"
        base[r.job] = name
        boards.setdefault(name, set()).add(r.board)
    return {r.job: base[r.job] + (f"_{r.board}" if len(boards[base[r.job]]) > 1 else "")
            for r in records}


def _board_name(record: MlperfRecord, boards: BoardLookup) -> str:
    try:
        name = boards.find(record.board_def).name
    except ConfigError:
        return ""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def _refuse_existing(root: Path, systems: set[str]) -> None:
    for system in sorted(systems):
        for path in (root / "results" / system, root / "systems" / f"{system}.json"):
            if path.exists():
                raise HarnessError(f"{path} exists: a submission tree gets each system from "
                                   "one run (write to a fresh --out, or remove it)")


def _below_target(entry: _Entry, options: SubmissionOptions) -> str:
    acc = entry.record.accuracy
    metric, target = TARGETS[entry.benchmark]
    if options.division != "closed" or acc is None:
        return ""
    value = acc.auc if metric == "auc" else acc.top1_pct
    if value is None or value >= target:
        return ""
    return (f"{entry.record.job}: {metric} {value:.3f} is below the closed division's target "
            f"{target:g} for {entry.benchmark}: the checker rejects it")


def _write(summary: SubmissionSummary, entries: dict[tuple[str, str], _Entry],
           options: SubmissionOptions, run_dir: Path) -> None:
    by_system: dict[str, list[_Entry]] = {}
    for (system, _), entry in entries.items():
        by_system.setdefault(system, []).append(entry)
    for system, mine in by_system.items():
        description = system_description(mine[0].board, [e.record for e in mine],
                                         options.submitter, options.division, options.status)
        _write_json(summary.root / "systems" / f"{system}.json", description)
    for (system, benchmark), entry in entries.items():
        folder = summary.root / "results" / system / benchmark
        tests = _tests(entry.record)
        for test, files in tests.items():
            for name, text in files.files.items():
                path = folder / test / name
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, text)
        summary.written.append(WrittenBenchmark(entry.record.job, system, benchmark, folder,
                                                tuple(tests)))
    run_id = next(iter(entries.values())).record.run_id
    code = summary.root / "code" / CODE_FOLDER / f"{run_id}.md"
    code.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(code, _code_readme(run_dir, summary))


def _tests(record: MlperfRecord) -> dict[str, TestFiles]:
    note = unmeasured_note(record.source)
    header = [f"{note}. Not valid as an MLPerf Tiny result."] if note else []
    tests = {"performance": performance_files(record, header),
             "accuracy": accuracy_files(record, header)}
    if record.energy:
        tests["energy"] = energy_files(record, header)
    return tests


def _code_readme(run_dir: Path, summary: SubmissionSummary) -> str:
    store = RunStore(run_dir)
    meta = store.metadata()
    bench_file = Path(str(meta.get("bench_file", "")))
    lines = [f"# Run {meta.get('run_id', run_dir.name)}", "",
             f"Measured with tinyml-harness {meta.get('harness_version', '?')} (commit "
             f"`{meta.get('git_commit') or 'n/a'}`): `harness run {bench_file.name} --mlperf`, "
             "then `harness submission` (the harness's docs/mlperf.md says how each figure is "
             "made).", "", "| job | system | benchmark | tests |", "|---|---|---|---|"]
    lines += [f"| {w.job} | {w.system} | {w.benchmark} | {', '.join(w.tests)} |"
              for w in summary.written]
    if bench_file.is_file():
        lines += ["", f"The bench file ({bench_file.name}):", "", "```yaml",
                  bench_file.read_text(encoding="utf-8").rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _write_json(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2) + "\n")
