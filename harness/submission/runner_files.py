"""The files MLCommons' runner writes for one test, made from a rule-mode record.

MLCommons' runner (mlcommons/tiny, benchmark/runner/) leaves three files per
test in its session folder: ``results.txt`` (the summary the submission checker
reads: ``Median throughput is … inf./sec.``, ``Top 1% = …`` / ``AUC = …``,
``Median energy cost is … uJ/inf.``), ``results.json`` (one entry per input or
trial) and ``log.txt`` (everything it printed). These follow its layout and
units; the lines ``header`` brings (what the figures are: measured, emulated or
simulated, and by what) come first in results.txt and log.txt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.results.mlperf_record import MlperfRecord

RESULTS_TXT, RESULTS_JSON, LOG_TXT = "results.txt", "results.json", "log.txt"
DASHES = "-" * 57
#: the runner calls a performance window valid from this many seconds on
RUNTIME_RULE_S = 10.0


@dataclass(frozen=True)
class TestFiles:
    """One test folder's files: name -> text."""

    files: dict[str, str]


def performance_files(record: MlperfRecord, header: list[str]) -> TestFiles:
    summary: list[str] = []
    entries = []
    for number, w in enumerate(record.performance, start=1):
        summary += [f"Performance results for window {number}",
                    f"    # Inferences : {w.inferences}",
                    f"    Runtime: {w.seconds:.6f} sec.",
                    f"    Throughput: {w.throughput} inf./sec."]
        if w.seconds >= RUNTIME_RULE_S:
            summary.append("    Runtime requirements have been met.")
        entries.append({"file": w.file, "class": str(w.label), "mode": "p",
                        "source": record.source,
                        "infer": {"results": w.outputs, "elapsed_time": round(w.seconds * 1e6),
                                  "iterations": w.inferences, "warmups": w.warmups,
                                  "commands": w.commands, "throughput": w.throughput}})
    stamp = _stamp(record, "performance")
    summary += [f"{stamp}ulp-mlperf: {DASHES}",
                f"{stamp}ulp-mlperf: Median throughput is {record.median_throughput:>10.3f} "
                "inf./sec.",
                f"{stamp}ulp-mlperf: {DASHES}"]
    return _test(record, header, "performance", summary, entries)


def accuracy_files(record: MlperfRecord, header: list[str]) -> TestFiles:
    acc = record.accuracy
    if acc is None:
        raise ValueError(f"{record.job}: no accuracy in the record")
    stamp = _stamp(record, "accuracy")
    summary = []
    if acc.top1_pct is not None:
        summary.append(f"{stamp}ulp-mlperf: Top 1% = {acc.top1_pct:2.1f}")
    if acc.auc is not None:
        summary.append(f"{stamp}ulp-mlperf: AUC = {acc.auc:.3f}")
    entries = [{"file": f.file, "class": str(f.label), "mode": "a", "source": record.source,
                "infer": {"results": result, "iterations": 1, "warmups": 0}}
               for f in acc.files for result in f.results]
    return _test(record, header, "accuracy", summary, entries)


def energy_files(record: MlperfRecord, header: list[str]) -> TestFiles:
    trials = record.energy
    if not trials:
        raise ValueError(f"{record.job}: no energy trials in the record")
    summary = ["Power Edition Output"]
    entries = []
    for number, t in enumerate(trials):
        summary += [f"Energy data for trial {number}",
                    f"  Elapsed time  : {t.elapsed_s}",
                    f"  Inferences    : {t.inferences}",
                    f"  Power         : {t.power_w * 1e3:5.4f} mW.",
                    f"  Total Energy  : {t.energy_j * 1e6:.3f} uJ",
                    f"  Energy/Inf    : {t.per_inference_j * 1e6:.3f} uJ/inf"]
        entries.append({"file": t.file, "mode": "e", "source": record.source,
                        "infer": {"iterations": t.inferences,
                                  "warmups": int(record.rules.get("warmups", 0))},
                        "power": {"elapsed_time_s": t.elapsed_s, "energy_j": t.energy_j,
                                  "power_w": t.power_w, "monitor": record.energy_monitor}})
    median = record.median_energy_j
    assert median is not None
    summary += [DASHES, f"Median energy cost is {median * 1e6:5.4f} uJ/inf.", DASHES]
    return _test(record, header, "energy", summary, entries)


def _test(record: MlperfRecord, header: list[str], phase: str, summary: list[str],
          entries: list[dict]) -> TestFiles:
    log = [*header, *_about(record, phase), *record.log.get(phase, []), *summary]
    return TestFiles({RESULTS_TXT: _text(header + summary), LOG_TXT: _text(log),
                      RESULTS_JSON: json.dumps(entries) + "\n"})


def _about(record: MlperfRecord, phase: str) -> list[str]:
    rules = ", ".join(f"{k}={v}" for k, v in record.rules.items())
    return [f"tinyml-harness {record.harness_version} (commit {record.git_commit or 'n/a'}), "
            f"run {record.run_id}, job {record.job}, {phase}",
            f"Board {record.board} ({record.board_def}, {record.board_kind}), "
            f"protocol {record.protocol}, timer {record.counter} at "
            f"{record.clock_hz / 1e6:g} MHz; "
            f"model {record.model} variant {record.variant}",
            f"Dataset {record.dataset}: {record.dataset_description}",
            f"Run rules: {rules}",
            *(f"Caveat: {c}" for c in record.caveats)]


def _stamp(record: MlperfRecord, phase: str) -> str:
    """The runner's ``MMDD.HHMMSS `` prefix, from the phase's last log line."""
    lines = record.log.get(phase) or [line for lines in record.log.values() for line in lines]
    return lines[-1].split(" ", 1)[0] + " " if lines else ""


def _text(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"
