"""Calibrate the QEMU board from per-layer profiles of MLPerf Tiny IC, KWS and AD, then predict
VWW, which the calibration has not seen (docs/boards.md, "Calibrating a board").

What it does, through the harness's own commands:

1. ``harness run`` a bench of the QEMU board with ``modes.profile`` over ic01, kws01 and
   ad01 (the project's MLPerf folder), and another over VWW (``vww_96_int8.tflite`` of
   the mlcommons/tiny checkout in $MLPERF_TINY_DIR, or ``--vww``): emulated
   instructions per op, and per inference with and without profiling.
2. ``harness calibrate`` the first run: boards/calibrations/qemu_mps2_an386.<kernels>.json
   (or ``--out``), with each model's leave-one-model-out error.
3. The calibrated latency model's instructions for VWW against VWW's measured ones.

Needs TFLM_DIR, qemu-system-arm and the Arm cross-compiler (images are cached by content;
a first build of each takes ~40 s here). Run:
``.venv/bin/python benchmarks/calibrate_qemu.py [--kernels reference] [--write-doc]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

import yaml
from rich.console import Console

from harness.boards.calibration import calibration_path, load_calibration
from harness.cli import main as harness
from harness.config.board import find_board
from harness.estimate import board_latency
from harness.measure.profile import read_profiles
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel

BOARD = "qemu_mps2_an386"
CALIBRATION_MODELS = ("ic01_int8", "kws01_int8", "ad01_int8")
VWW_IN_TINY = Path("benchmark/training/visual_wake_words/trained_models/vww_96_int8.tflite")
DOC = Path(__file__).resolve().parents[1] / "docs" / "boards.md"
DOC_MARK = "<!-- calibrate_qemu:{kernels}:{end} -->"


def _run(results: Path, name: str, models: list[dict], kernels: str, runs: int) -> Path:
    bench = results / f"{name}.yaml"
    bench.write_text(yaml.safe_dump({
        "name": name, "boards": [{"id": "qemu", "board": BOARD, "kernels": [kernels]}],
        "models": models, "modes": {"profile": {"runs": runs, "warmups": 1}}}))
    before = {p for p in results.iterdir() if p.is_dir()}
    harness(["run", str(bench), "--results-dir", str(results)],
            standalone_mode=False)
    (run_dir,) = {p for p in results.iterdir() if p.is_dir()} - before
    return run_dir


def _arena_rows(run_dir: Path) -> dict[str, float]:
    """HELLO's arena_used per model (the info rows)."""
    with (run_dir / "results.csv").open(newline="") as fh:
        return {r["model"]: float(r["value"]) for r in csv.DictReader(fh)
                if r["metric"] == "arena_bytes"}


def _flash_rows(run_dir: Path) -> dict[str, float]:
    """The image's text + data per model (the info rows)."""
    with (run_dir / "results.csv").open(newline="") as fh:
        return {r["model"]: float(r["value"]) for r in csv.DictReader(fh)
                if r["metric"] == "firmware_flash_bytes"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kernels", choices=["cmsis-nn", "reference"], default="cmsis-nn")
    parser.add_argument("--vww", type=Path, default=None,
                        help="VWW's .tflite (default: $MLPERF_TINY_DIR/" f"{VWW_IN_TINY})")
    parser.add_argument("--runs", type=int, default=3, help="profiled inferences per model")
    parser.add_argument("--out", type=Path, default=None,
                        help="the calibration file (default: boards/calibrations/)")
    parser.add_argument("--results-dir", type=Path, default=None)
    parser.add_argument("--write-doc", action="store_true", help=f"update {DOC.name}")
    args = parser.parse_args(argv)
    if not os.environ.get("TFLM_DIR"):
        sys.exit("TFLM_DIR is not set: the QEMU images are built from a tflite-micro checkout")
    vww = args.vww or Path(os.environ.get("MLPERF_TINY_DIR", "")) / VWW_IN_TINY
    if not vww.is_file():
        sys.exit(f"VWW model not found at {vww}: pass --vww or set MLPERF_TINY_DIR")
    results = args.results_dir or Path(tempfile.mkdtemp(prefix="calibrate-qemu-"))
    results.mkdir(parents=True, exist_ok=True)
    mlperf = mlperf_tiny_dir()
    seen = _run(results, "calibration", [{"id": m.split("_")[0], "path": f"mlperf:{m}.tflite"}
                                         for m in CALIBRATION_MODELS], args.kernels, args.runs)
    unseen = _run(results, "held-out", [{"id": "vww01", "path": str(vww.resolve())}],
                  args.kernels, args.runs)
    out = args.out or calibration_path(BOARD, args.kernels)
    harness(["calibrate", str(seen), "--kernels", args.kernels, "--out", str(out)],
            standalone_mode=False)
    calibration = load_calibration(out)
    board = find_board(BOARD)
    (vww_profile,) = read_profiles(unseen)
    predicted = board_latency(inspect_tflite(vww), board, args.kernels, calibration)
    measured = vww_profile["unprofiled_per_inference"]
    vww_error = (predicted.estimate.total_cycles / measured - 1) * 100

    shown = out.relative_to(out.parents[2]) if args.out is None else out
    lines = [f"Emulated ({BOARD}, TFLM with {args.kernels}, instructions per inference; "
             f"calibration `{shown}`):",
             "", "| model | role | measured | predicted | error | kinds only it has |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for fold in calibration.models:
        lines.append(f"| {fold.model.split('/')[0]} | left out of a fit to the other two | "
                     f"{fold.measured:,.0f} | {fold.predicted:,.0f} | "
                     f"{fold.error_pct:+.1f} % | {', '.join(fold.unseen_kinds) or '–'} |")
    lines.append(f"| vww01 | not seen: fitted to IC, KWS and AD | {measured:,.0f} | "
                 f"{predicted.estimate.total_cycles:,.0f} | **{vww_error:+.1f} %** | "
                 f"{', '.join(predicted.estimate.assumed) or '–'} |")
    lines += ["", "The profile's own cost (instructions per inference with every op timed, "
              "against INFER of the same input):", "",
              "| model | without | with | overhead |", "| --- | ---: | ---: | ---: |"]
    profiles = [*read_profiles(seen), vww_profile]
    for p in profiles:
        lines.append(f"| {p['model']} | {p['unprofiled_per_inference']:,.0f} | "
                     f"{p['profiled_per_inference']:,.0f} | {p['overhead_per_inference']:+,.0f} "
                     f"({p['overhead_pct']:+.3f} %) |")
    arenas = _arena_rows(seen) | _arena_rows(unseen)
    flashes = _flash_rows(seen) | _flash_rows(unseen)
    lines += ["", "Arena (TFLM on the emulated 32-bit core, HELLO's `arena_used`, against the "
              "64-bit host runtime's) and code (image text + data minus the model):", "",
              "| model | host arena | target arena | target / host | code bytes |",
              "| --- | ---: | ---: | ---: | ---: |"]
    files = {p["model"]: (mlperf / p["model_file"] if p["model"] != "vww01" else vww)
             for p in profiles}
    for model, path in files.items():
        host = TflmHostModel.load(path).arena_used_bytes
        code = flashes[model] - path.stat().st_size
        lines.append(f"| {model} | {host:,} | {arenas[model]:,.0f} | "
                     f"{arenas[model] / host:.3f} | {code:,.0f} |")
    text = "\n".join(lines)
    Console(soft_wrap=True, markup=False).print(text)
    if args.write_doc:
        doc = DOC.read_text()
        begin = DOC_MARK.format(kernels=args.kernels, end="begin")
        start = doc.index(begin) + len(begin)
        end = doc.index(DOC_MARK.format(kernels=args.kernels, end="end"))
        DOC.write_text(doc[:start] + "\n" + text + "\n" + doc[end:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
