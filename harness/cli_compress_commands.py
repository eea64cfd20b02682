"""`harness compress`: compressed variants of one model, each a .tflite with its card."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.cli_text import labelled
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.paths import default_cache_dir

out = Console(soft_wrap=True, width=None if Console().is_terminal else 160)  # whole rows in CI logs
err = Console(stderr=True, soft_wrap=True)


@click.command()
@click.argument("model", metavar="MODEL")
@click.option("--variants", required=True, metavar="LIST",
              help="Comma-separated: fp32, int8, int16x8, qat-int8, pruned-<S>-int8, "
                   "structured-<P>-int8, clustered-<K>-int8, distilled-int8, hybrid-int8.")
@click.option("--dataset", default="generated", show_default=True,
              help="Calibration, fine-tuning and scoring data: digits, npz:<path>, "
                   "mlperf:<dir>[#encoding], generated.")
@click.option("--task", type=click.Choice(["classification", "anomaly"]), default=None,
              help="The model's task (default: the dataset's).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for <variant>.tflite and <variant>.card.json.")
@click.option("--force", is_flag=True, help="Rebuild even when the cache has the variant.")
@click.option("--seed", default=0, show_default=True, help="Seed of fine-tuning and clustering.")
def compress(model: str, variants: str, dataset: str, task: str | None, out_dir: Path,
             force: bool, seed: int) -> None:
    """Build compressed variants of MODEL (.h5, .keras, SavedModel, .tflite, mlperf:<file>
    or builtin:digits); cached by content hash, so unchanged variants are not rebuilt."""
    from harness.compress.cache import copy_atomic
    from harness.compress.card import card_path
    from harness.compress.pipeline import CompressRequest, build_variant, load_dataset_for
    from harness.compress.sources import open_source
    from harness.compress.variants import parse_variant_list
    from harness.config.bench import BenchModel
    from harness.errors import ModelError
    from harness.models.resolve import compression_source

    names = [v.name for v in parse_variant_list(variants)]  # a typo fails before any work
    source_path = compression_source(BenchModel(id="cli", path=model), Path.cwd(),
                                     mlperf_tiny_dir(), default_cache_dir())
    name = source_path.stem if not model.startswith("builtin:") else model.partition(":")[2]
    source = open_source(source_path, name=name)
    data = load_dataset_for(source, dataset, task=task, seed=seed)
    request = CompressRequest(source, name, data, dataset, default_cache_dir(), seed, force)
    outcomes = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, disable=not err.is_terminal) as progress:
        task_id = progress.add_task("", total=len(names))
        for variant in names:
            progress.update(task_id, description=f"{variant}: starting")
            outcome = build_variant(request, variant, lambda v, what: progress.update(
                task_id, description=f"{v}: {what}"))
            progress.advance(task_id)
            if outcome.tflite is not None and outcome.card is not None:
                target = out_dir / f"{variant}.tflite"
                copy_atomic(outcome.tflite, target)
                copy_atomic(outcome.card, card_path(target))
            outcomes.append(outcome)
            if not err.is_terminal:
                err.print(f"{variant}: {'ok' if outcome.ok else 'failed'} "
                          f"({outcome.seconds:.1f} s{', cached' if outcome.cached else ''})",
                          highlight=False)
    _print_table(outcomes, out_dir)
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        err.print(labelled("failed", "red", o.error))
    if failed:
        raise ModelError(f"{len(failed)} of {len(outcomes)} variants failed (reasons above)")


def _print_table(outcomes: list, out_dir: Path) -> None:
    table = Table("variant", "status", "file B", "gzip B", "params", "non-zero", "arena B",
                  "acc. TFLite", "acc. TFLM", "time s", title=f"variants in {out_dir}")
    for o in outcomes:
        card = json.loads(o.card.read_text()) if o.card is not None else {}
        acc = card.get("accuracy") or {}
        status = ("cached" if o.cached else "built") if o.ok else "[red]failed[/]"
        table.add_row(o.variant, status, *(_fmt(card.get(k)) for k in (
            "file_bytes", "gzip_bytes", "params", "nonzero_params", "arena_bytes")),
            _fmt(acc.get("tflite")), _fmt(acc.get("tflm")), f"{o.seconds:.1f}")
    out.print(table)


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}" if isinstance(
        value, int) else str(value)
