"""Fault soak: thousands of faults of every kind into long runs; nothing lost, nothing wrong.

Rounds of `harness run` on simulated boards (and, with --qemu and TFLM_DIR, on the
emulated board) behind the fault relay, each with its own fault seed, against one
run of the same bench without faults. Per round and in total it prints:

- faults injected (the relay's log, work/faults.jsonl: bytes dropped, duplicated,
  corrupted each way, resets, hangs, re-enumerations, ROM boot texts; monitor
  disconnects from the simulated monitor, seen in the rows' notes and failures),
- faults detected (the session's counters in every job's info rows),
- jobs recovered (completed) and failed,
- rows flagged (a caveat that the board reset, hung or vanished, or the energy was
  measured again), rows lost (in the fault-free run, not in the faulty one) and
  figures silently wrong: differing from the fault-free figure by more than the
  uncertainty the run states, with no flag.

A second table times the recovery from one fault of each kind on a live session.

Run: ``.venv/bin/python benchmarks/fault_soak.py [--rounds 6] [--qemu]`` (Markdown for
docs/reliability.md on stdout; progress on stderr; ~20 minutes for the defaults on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from harness.boards.driver import LinkHint, create_driver
from harness.config.bench import load_bench
from harness.config.board import find_board
from harness.config.faults import FaultSpec, Reenumeration
from harness.dut.recovery import Recovery
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.faults import wrap_with_faults
from harness.faults.driver import FAULT_LOG
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.paths import default_cache_dir
from harness.results.rows import caveats_in
from harness.run_bench import RunOptions, run_bench

INJECTED_KEYS = ("dropped_to_board", "dropped_from_board", "duplicated_to_board",
                 "duplicated_from_board", "corrupted_to_board", "corrupted_from_board",
                 "resets", "hangs", "reenumerations", "boot_texts")
DETECTED = ("board_resets", "board_hangs", "link_losses", "command_resends",
            "frames_garbled_to_board", "frames_garbled_from_board")
EXACT = {"top1", "auc", "host_reference_mismatches", "arena_bytes", "model_bytes",
         "firmware_flash_bytes", "firmware_ram_bytes"}


def soak_faults(seed: int, qemu: bool) -> dict:
    return {"seed": seed, "reset_on_open": True,
            "reenumerate": {"min_s": 0.2, "max_s": 0.8},
            "reset_rate": 0.004, "hang_rate": 0.002,
            "link": {"drop_rate": 2e-4, "duplicate_rate": 2e-4, "corrupt_rate": 2e-4},
            "monitor_disconnect_rate": 0.0 if qemu else 0.2}


def bench_dict(mlperf: Path, qemu: bool) -> dict:
    if qemu:    # shorter: the emulated board runs the real firmware and TFLM
        return {"name": "soak-qemu",
                "boards": [{"id": "qemu", "board": "qemu_mps2_an386"}],
                "models": [{"id": "kws", "path": f"{mlperf}/kws01_int8.tflite"}],
                "modes": {"performance": {"warmups": 1, "runs": 20},
                          "accuracy": {"samples": 40}}}
    return {"name": "soak",
            "boards": [{"id": "l4r5zi", "board": "nucleo_l4r5zi", "kind": "sim"},
                       {"id": "esp32", "board": "esp32dev", "kind": "sim"}],
            "monitors": [{"id": "sim1", "backend": "sim", "powers": "l4r5zi",
                          "sample_rate": 20000, "params": {"noise_a": 2e-4}}],
            "models": [{"id": "digits", "path": "builtin:digits", "dataset": "digits"},
                       {"id": "ic", "path": f"{mlperf}/ic01_int8.tflite"}],
            "modes": {"performance": {"warmups": 2, "runs": 50},
                      "accuracy": {"samples": 150},
                      "energy": {"windows": 5, "inferences_per_window": 5, "idle_s": 0.05}}}


def run(folder: Path, bench: dict, mlperf: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bench['name']}.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    options = RunOptions(results_dir=folder / "results", mlperf_dir=mlperf,
                         cache_dir=default_cache_dir())
    return run_bench(load_bench(path), options).run_dir


def rows_of(run_dir: Path) -> dict[tuple[str, ...], dict[str, str]]:
    with (run_dir / "results.csv").open(newline="") as fh:
        return {(r["board"], r["model"], r["variant"], r["metric"]): r
                for r in csv.DictReader(fh)}


def allowed(ref: dict[str, dict[str, str]], key: tuple[str, ...],
            other: dict[str, str] | None = None) -> float:
    """The uncertainty the two runs state for a figure (the fault-free run's alone where
    only it states one)."""
    row = ref[key]
    if row["metric"] in EXACT:
        return 0.0
    if row["ci_low"] and row["ci_high"]:    # the two runs' half-widths added
        half = (float(row["ci_high"]) - float(row["ci_low"])) / 2
        if other and other["ci_low"] and other["ci_high"]:
            return half + (float(other["ci_high"]) - float(other["ci_low"])) / 2
        return 2 * half
    if row["metric"] in ("latency_median", "latency_p90", "cycles_mean",
                         "instructions_mean"):
        p90 = ref.get((*key[:3], "latency_p90"))
        med = ref.get((*key[:3], "latency_median"))
        spread = abs(float(p90["value"]) - float(med["value"])) / float(med["value"]) \
            if p90 and med else 0.01
        return 2 * spread * abs(float(row["value"]))
    return 0.02 * abs(float(row["value"]))    # idle/active power: the monitor's noise


def flags(row: dict[str, str], reference: dict[str, str] | None) -> set[str]:
    """The caveats a faulty run's row carries that the fault-free one does not, plus a
    note that the energy was measured again."""
    said = set(caveats_in(row["notes"])) - set(caveats_in(reference["notes"] if reference
                                                           else ""))
    return said | ({"measured again"} if "measured again" in row["notes"] else set())


def compare(ref: dict, got: dict, failed_jobs: set[str]) -> tuple[int, int, int, int, list[str]]:
    """Figures failed (their job says why), rows lost (nothing says why), rows flagged
    and figures silently wrong (with what was wrong)."""
    measured = {k: v for k, v in ref.items() if v["mode"] != "info" or v["metric"] in EXACT}
    missing = [k for k in measured if k not in got]
    failed = [k for k in missing if "/".join(k[:3]) in failed_jobs]
    flagged = sum(1 for key, r in got.items() if flags(r, ref.get(key)))
    wrong = []
    for key, row in measured.items():
        if key not in got:
            continue
        diff = abs(float(got[key]["value"]) - float(row["value"]))
        if diff > allowed(ref, key, got[key]) and not flags(got[key], row):
            wrong.append(f"{'/'.join(key)}: {got[key]['value']} vs {row['value']}")
    return len(failed), len(missing) - len(failed), flagged, len(wrong), wrong


def injected(run_dir: Path) -> Counter:
    total: Counter = Counter()
    for log_path in (run_dir / "work").rglob(FAULT_LOG):   # one per board's work folder
        for line in log_path.read_text().splitlines():
            entry = json.loads(line)
            total.update({k: entry[k] for k in INJECTED_KEYS})
    return total


def disconnects(run_dir: Path, rows: dict) -> int:
    text = " ".join(r["notes"] for r in rows.values())
    text += (run_dir / "jobs.jsonl").read_text()
    return text.count("disconnected")


def soak(rounds: int, qemu: bool, mlperf: Path, folder: Path) -> None:
    base = bench_dict(mlperf, qemu)
    say(f"reference run ({base['name']}, no faults)")
    reference = rows_of(run(folder / "reference", base, mlperf))
    totals: Counter = Counter()
    print(f"\n### {'QEMU board' if qemu else 'Simulated boards'}: {rounds} rounds\n")
    print("| round | faults injected | detected | jobs ok / failed | figures failed (said why) "
          "| rows flagged | rows lost | silently wrong | wall s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for seed in range(1, rounds + 1):
        started = time.monotonic()
        run_dir = run(folder / f"round{seed}", {**base, "faults": soak_faults(seed, qemu)},
                      mlperf)
        got = rows_of(run_dir)
        kinds = injected(run_dir)
        kinds["monitor_disconnects"] = disconnects(run_dir, got)
        seen = sum(int(float(r["value"])) for r in got.values() if r["metric"] in DETECTED)
        # hangs brought back by a power-cycle (a board with no reset line): among board_hangs
        cycled = sum(int(float(r["value"])) for r in got.values()
                     if r["metric"] == "board_power_cycles")
        outcomes = {e["job"]: e for e in map(
            json.loads, (run_dir / "jobs.jsonl").read_text().splitlines())}
        status = Counter(e["status"] for e in outcomes.values())
        ok, failed = status["done"], status["failed"] + status["partial"]
        for job, entry in outcomes.items():
            if entry["status"] in ("failed", "partial"):
                say(f"  {job} {entry['status']}: {entry['message']}")
        gone, lost, flagged, wrong, what = compare(
            reference, got, {j for j, e in outcomes.items() if e["status"] != "done"})
        totals.update(kinds)
        totals.update({"detected": seen, "power_cycles": cycled, "ok": ok, "failed": failed,
                       "gone": gone, "lost": lost, "flagged": flagged, "wrong": wrong})
        wall = time.monotonic() - started
        print(f"| {seed} | {sum(kinds.values()):,} | {seen:,} | {ok} / {failed} | {gone} | "
              f"{flagged} | {lost} | {wrong} | {wall:.0f} |", flush=True)
        for line in what:
            say(f"  silently wrong: {line}")
    faults = sum(totals[k] for k in (*INJECTED_KEYS, "monitor_disconnects"))
    print(f"| **total** | **{faults:,}** | **{totals['detected']:,}** | "
          f"**{totals['ok']} / {totals['failed']}** | **{totals['gone']}** | "
          f"**{totals['flagged']}** | "
          f"**{totals['lost']}** | **{totals['wrong']}** | |")
    print("\nFaults injected by kind: " + ", ".join(
        f"{k.replace('_', ' ')} {totals[k]:,}" for k in (*INJECTED_KEYS, "monitor_disconnects")))
    print(f"Hangs the host power-cycled through a monitor: {totals['power_cycles']:,}")


def recovery_times(repeats: int, folder: Path, mlperf: Path) -> None:
    """Seconds from a fault to the interrupted command's reply, minus the fault-free time."""
    board = find_board("esp32dev").model_copy(update={"kind": "sim"})
    model = mlperf / "kws01_int8.tflite"
    spec = FaultSpec(seed=0, reenumerate=Reenumeration(min_s=1.0, max_s=3.0))
    driver = wrap_with_faults(create_driver(board, folder / "work", LinkHint(pace="realtime")),
                              board, spec, "esp32", folder / "work")
    url = driver.start(model)

    def relink(timeout: float):
        return open_link(driver.relink(timeout), board.serial.baudrate)

    data = bytes(490)
    link = open_link(url, board.serial.baudrate)
    kinds = {   # in this order: a hang and a re-enumeration leave the first port behind
        "none (baseline)": lambda: None,
        "garbled command": lambda: link.write(b"\x13\x37 noise \xff"),
        "reset mid-INFER": lambda: threading.Timer(0.1, driver.inner.reboot).start(),
        "hang": lambda: driver.hang(),
        "re-enumeration (1-3 s)": lambda: driver.reset(),
    }
    print("\n### Recovery time per fault kind (realtime simulated ESP32, KWS, INFER of 5)\n")
    print("| fault | median s | max s | what the host did |")
    print("| --- | --- | --- | --- |")
    with DutSession(link, timeout=1.0,
                    recovery=Recovery("esp32", driver.reset, relink),
                    expected_s_per_inference=0.01) as session:
        session.connect(3.0)
        session.hello()
        session.upload(data)
        for name, fault in kinds.items():
            times = []
            for _ in range(repeats):
                before = dict(vars(session.stats))
                started = time.monotonic()
                fault()
                session.infer(0, 5, want_output=False)
                times.append(time.monotonic() - started)
            did = {k: v - before[k] for k, v in vars(session.stats).items()
                   if k in ("reboots", "hang_resets", "relinks", "resends") and v != before[k]}
            print(f"| {name} | {np.median(times):.2f} | {max(times):.2f} | "
                  f"{', '.join(f'{v} {k}' for k, v in did.items()) or '—'} |", flush=True)
    driver.stop()


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--qemu-rounds", type=int, default=2)
    parser.add_argument("--qemu", action="store_true", help="also soak the QEMU board")
    parser.add_argument("--repeats", type=int, default=5, help="recovery-time repeats")
    parser.add_argument("--mlperf-dir", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    mlperf = args.mlperf_dir or mlperf_tiny_dir()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(tmp)
        soak(args.rounds, False, mlperf, folder / "sim")
        if args.qemu:
            soak(args.qemu_rounds, True, mlperf, folder / "qemu")
        recovery_times(args.repeats, folder / "times", mlperf)


if __name__ == "__main__":
    main()
