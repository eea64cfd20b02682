"""Compressed variants of the MLPerf Tiny IC and AD Keras models, and the digits trade-off.

1. ``ic01_fp32.h5`` (ResNet-8) and ``ad01_fp32.h5`` (FC autoencoder) from the
   MLPerf Tiny folder (``--mlperf-dir``, default ``$HARNESS_MLPERF_TINY_DIR`` or
   ``../shared/mlperf_tiny``) go through fp32 / int8 / pruned-0.5-int8 /
   clustered-16-int8; their cards are written to ``models/cards/`` (small JSON;
   the .tflite files stay in the cache). CIFAR-10 and ToyADMOS are not available
   offline, so calibration and fine-tuning use generated inputs over the range
   of the reference int8 model's input, fine-tuning targets are the source
   model's own outputs, and the cards carry no accuracy. The table reports
   instead how closely each variant (TFLM host runtime) follows the fp32
   variant on held-out generated inputs: top-1 agreement for IC, Pearson
   correlation of the reconstruction-error score for AD.
2. Every variant of the digits CNN (real held-out accuracy).

Both tables go into docs/compression.md between the generated-section markers.
Run: ``.venv/bin/python benchmarks/compress_mlperf.py [--only digits|mlperf]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path

import numpy as np

from harness.compress.pipeline import CompressRequest, build_variants, load_dataset_for
from harness.compress.sources import open_source
from harness.models.datasets import Dataset, generated_dataset
from harness.models.digits_model import build_digits_models
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.models.tflite_inspect import inspect_tflite
from harness.models.tflm_host import TflmHostModel
from harness.paths import default_cache_dir, project_root

log = logging.getLogger("compress_mlperf")
MLPERF_VARIANTS = ["fp32", "int8", "pruned-0.5-int8", "clustered-16-int8"]
DIGITS_VARIANTS = ["fp32", "int8", "int16x8", "qat-int8", "pruned-0.5-int8", "pruned-0.8-int8",
                   "structured-0.5-int8",
                   "clustered-16-int8", "clustered-8-int8", "distilled-int8", "hybrid-int8"]
MLPERF_MODELS = {"ic01": ("ic01_fp32.h5", "ic01_int8.tflite", "classification"),
                 "ad01": ("ad01_fp32.h5", "ad01_int8.tflite", "anomaly")}
H5_HINT = ("The Keras sources are in the MLCommons tiny repository (github.com/mlcommons/tiny): "
           "benchmark/training/image_classification/trained_models/pretrainedResnet.h5 and "
           "benchmark/training/anomaly_detection/trained_models/model_ToyCar.h5; save them as "
           "ic01_fp32.h5 and ad01_fp32.h5 in the MLPerf Tiny folder.")
BEGIN, END = "<!-- compress_mlperf:begin -->", "<!-- compress_mlperf:end -->"
GENERATED_SAMPLES = 512


def mlperf(folder: Path, cache: Path, cards_dir: Path) -> list[str]:
    lines = ["### MLPerf Tiny Keras models (generated inputs, no labels)", "",
             "| model | variant | file B | gzip B | params | non-zero | arena B | "
             "follows fp32 | build s |", "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for name, (h5, reference, task) in MLPERF_MODELS.items():
        if not (folder / h5).is_file():
            log.warning("%s not found. %s", folder / h5, H5_HINT)
            lines.append(f"| {name} | – | {h5} not found in {folder} | | | | | | |")
            continue
        source = open_source(folder / h5, name=name)
        dataset = _generated_over_reference(source, folder / reference, task)
        request = CompressRequest(source, name, dataset, "generated", cache)
        outcomes = build_variants(request, MLPERF_VARIANTS, _progress)
        fp32 = next((o.tflite for o in outcomes if o.variant == "fp32" and o.ok), None)
        held_out = dataset.held_out()
        for o in outcomes:
            if o.card is None:
                lines.append(f"| {name} | {o.variant} | failed: {o.error} | | | | | | |")
                continue
            card = json.loads(o.card.read_text())
            (cards_dir / f"{name}__{o.variant}.json").write_text(json.dumps(card, indent=2)
                                                                 + "\n")
            follows = _follows(o.tflite, fp32, held_out) if o.ok and fp32 else None
            lines.append(f"| {name} | {o.variant} | {card['file_bytes']:,} | "
                         f"{card['gzip_bytes']:,} | {card['params']:,} | "
                         f"{card['nonzero_params']:,} | {_n(card['arena_bytes'])} | "
                         f"{_follow_text(follows, task)} | {card['build_seconds']:.1f} |")
    return lines


def _generated_over_reference(source, reference: Path, task: str) -> Dataset:
    """Uniform inputs over the range the reference int8 model's input covers."""
    spec = inspect_tflite(reference).inputs[0] if reference.is_file() else None
    if spec is None:
        return load_dataset_for(source, "generated", task=task)
    return generated_dataset(spec, GENERATED_SAMPLES, seed=0, task=task)  # type: ignore[arg-type]


def _follows(path: Path, reference: Path, held_out: Dataset) -> float:
    ours, ref = TflmHostModel.load(path), TflmHostModel.load(reference)
    out_a, out_b, score_a, score_b = [], [], [], []
    for i in range(len(held_out)):
        for host, outs, scores in ((ours, out_a, score_a), (ref, out_b, score_b)):
            raw = held_out.to_model_input(i, host.input_spec)
            y = host.output_spec.dequantize(host.run(raw)).reshape(-1)
            outs.append(int(np.argmax(y)))
            if held_out.task == "anomaly":  # reconstruction error, the AD score
                scores.append(float(np.mean((host.input_spec.dequantize(raw).reshape(-1) - y)
                                            ** 2)))
    if held_out.task == "anomaly":
        return float(np.corrcoef(score_a, score_b)[0, 1])
    return float(np.mean(np.array(out_a) == np.array(out_b)))


def _follow_text(value: float | None, task: str) -> str:
    if value is None:
        return "–"
    return f"r = {value:.3f}" if task == "anomaly" else f"{value:.1%} top-1 agree"


def digits(cache: Path) -> list[str]:
    source = open_source(build_digits_models(cache).keras, name="digits")
    request = CompressRequest(source, "digits", load_dataset_for(source, "digits"), "digits",
                              cache)
    cards = {}
    for o in build_variants(request, DIGITS_VARIANTS, _progress):
        if o.card is None:
            log.error("%s", o.error)
            continue
        cards[o.variant] = json.loads(o.card.read_text())
    base = cards["fp32"]
    lines = ["### Digits CNN: size against accuracy (held-out split, 450 samples)", "",
             "| variant | file B | vs fp32 | gzip B | vs fp32 gzip | params | non-zero | MACs | "
             "arena B | top-1 LiteRT | top-1 TFLM | retention | build s |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for name, c in cards.items():
        acc = c["accuracy"]
        lines.append(
            f"| {name} | {c['file_bytes']:,} | {_cut(c['file_bytes'], base['file_bytes'])} | "
            f"{c['gzip_bytes']:,} | {_cut(c['gzip_bytes'], base['gzip_bytes'])} | "
            f"{c['params']:,} | {c['nonzero_params']:,} | {c['macs_total']:,} | "
            f"{_n(c['arena_bytes'])} | {acc['tflite']:.4f} | {acc['tflm']:.4f} | "
            f"{acc['tflm'] / base['accuracy']['tflm']:.1%} | {c['build_seconds']:.1f} |")
    if "hybrid-int8" in cards:
        lines += ["", _hybrid_verdict(cards["hybrid-int8"], base)]
    return lines


def _hybrid_verdict(h: dict, base: dict) -> str:
    file_cut = 1 - h["file_bytes"] / base["file_bytes"]
    gzip_cut = 1 - h["gzip_bytes"] / base["gzip_bytes"]
    gzip_vs_file = 1 - h["gzip_bytes"] / base["file_bytes"]
    retention = h["accuracy"]["tflm"] / base["accuracy"]["tflm"]
    size = {True: "reaches", False: "falls short of"}
    return (f"**Hybrid against the literature's claim (≈90 % smaller at ≥95 % accuracy "
            f"retention), measured:** file bytes {file_cut:.1%} smaller than fp32 "
            f"({base['file_bytes']:,} → {h['file_bytes']:,} B); gzip bytes {gzip_cut:.1%} "
            f"smaller than fp32's gzip ({base['gzip_bytes']:,} → {h['gzip_bytes']:,} B), "
            f"{gzip_vs_file:.1%} smaller than the uncompressed fp32 file; top-1 retention "
            f"{retention:.1%} ({base['accuracy']['tflm']:.4f} → {h['accuracy']['tflm']:.4f}, "
            f"TFLM). Size: it {size[file_cut >= 0.9]} the ≈90 % in file bytes and "
            f"{size[gzip_cut >= 0.9]} it in gzip bytes; accuracy: it "
            f"{size[retention >= 0.95]} the ≥95 % retention.")


def _cut(value: int, base: int) -> str:
    if value == base:
        return "–"
    return f"−{1 - value / base:.1%}" if value <= base else f"+{value / base - 1:.1%}"


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _progress(variant: str, what: str) -> None:
    log.info("%s: %s", variant, what)


def write_section(doc: Path, lines: list[str]) -> None:
    text = doc.read_text() if doc.is_file() else f"# Compression\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    block = "\n".join([BEGIN, *lines, END])
    doc.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text,
                          flags=re.S))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlperf-dir", type=Path, default=mlperf_tiny_dir())
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--cards-dir", type=Path, default=project_root() / "models" / "cards")
    parser.add_argument("--doc", type=Path, default=project_root() / "docs" / "compression.md")
    parser.add_argument("--only", choices=["all", "digits", "mlperf"], default="all")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.monotonic()
    args.cards_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    if args.only in ("all", "digits"):
        lines += [*digits(args.cache_dir), ""]
    if args.only in ("all", "mlperf"):
        lines += mlperf(args.mlperf_dir, args.cache_dir, args.cards_dir)
    lines += ["", f"_Source: measured on the host by `benchmarks/compress_mlperf.py` "
                  f"({time.monotonic() - started:.0f} s wall, cached variants not rebuilt); "
                  "accuracy is the host runtimes', not a board's._"]
    write_section(args.doc, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
