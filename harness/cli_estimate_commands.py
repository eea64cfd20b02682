"""`harness estimate` and `harness calibrate`: figures before anything is flashed, and the
board constants they come from."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from harness.cli_json import json_option, print_json
from harness.cli_options import boards_dir_option
from harness.config.board import find_board

out = Console(soft_wrap=True, markup=False)
_KERNELS = click.Choice(["cmsis-nn", "esp-nn", "reference"])


@click.command()
@click.argument("model", metavar="MODEL")
@click.option("--board", "board_id", required=True, help="Board id (a boards/*.yaml file name).")
@click.option("--kernels", type=_KERNELS, default=None,
              help="Kernel library (default: the board's build.kernels).")
@click.option("--variant", default="as-is", show_default=True, help="Model variant.")
@click.option("--calibration", "calibration_file",
              type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="A calibration file (default: boards/calibrations/<board>.<kernels>.json "
                   "if there is one).")
@click.option("--published", is_flag=True,
              help="Use the published constants even if the board has a calibration.")
@boards_dir_option
@json_option
def estimate(model: str, board_id: str, kernels: str | None, variant: str,
             calibration_file: Path | None, published: bool, boards_dir: Path | None,
             as_json: bool) -> None:
    """Latency, energy per inference, arena and flash of MODEL on a board, before anything
    is built or flashed; each figure with where its constants come from and its expected
    error. MODEL: a .tflite path, mlperf:<file> or builtin:<name>."""
    from harness.boards.calibration import load_calibration
    from harness.cli_firmware_commands import _model_path
    from harness.estimate import estimate_model, fits

    board = find_board(board_id, boards_dir)
    calibration = load_calibration(calibration_file) if calibration_file else not published
    result = estimate_model(_model_path(model, variant), board, kernels, calibration)
    if as_json:
        print_json(result.as_json() | {"does_not_fit": fits(result, board)})
        return
    out.print(f"{Path(result.model).name} on {board.id} with {result.kernels} ({result.ops} ops, "
              f"{result.macs:,} MACs): estimated, nothing was built or run")
    count = result.count
    for name, figure, shown in (
            ("latency", result.latency, f"{_num(result.latency.value, ',.3f')} ms ("
             f"{_num(count.value, ',.0f')} {count.unit} at {board.clock_hz / 1e6:g} MHz)"),
            ("energy", result.energy, f"{_num(result.energy.value, ',.1f')} µJ per inference"),
            ("arena", result.arena, f"{_num(result.arena.value, ',.0f')} B"),
            ("flash", result.flash, f"{_num(result.flash.value, ',.0f')} B")):
        out.print(f"{name:8} {shown}")
        out.print(f"{'':8} from:  {figure.source}")
        out.print(f"{'':8} error: {figure.expected_error or 'unknown'}")
        for note in figure.notes:
            out.print(f"{'':8} note:  {note}")
    for assumed in result.assumed:
        out.print(f"assumed: {assumed}")
    for problem in fits(result, board):
        out.print(f"does not fit {board.id}: {problem}")


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


@click.command()
@click.argument("run_dirs", nargs=-1, required=True,
                type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--board", "board_id", default=None,
              help="Use only the profiles of this board definition.")
@click.option("--kernels", type=_KERNELS, default=None,
              help="Use only the profiles of this kernel library.")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to write it (default: boards/calibrations/<board>.<kernels>.json).")
@json_option
def calibrate(run_dirs: tuple[Path, ...], board_id: str | None, kernels: str | None,
              out_path: Path | None, as_json: bool) -> None:
    """Fit a board's per-op cost constants from the per-layer profiles (modes.profile) of
    measured or emulated runs in RUN_DIR…; store them and print each model's
    leave-one-model-out error. Estimates and simulated boards then use them."""
    from harness import __version__
    from harness.boards.calibration import (
        CalibrationError,
        ProfiledModel,
        calibration_path,
        fit_calibration,
        save_calibration,
    )
    from harness.boards.latency_model import published_cost
    from harness.measure.profile import read_profiles
    from harness.results.metadata import utc_now

    documents = [d for run_dir in run_dirs for d in read_profiles(run_dir)]
    if not documents:
        raise CalibrationError(f"no per-layer profiles in {', '.join(map(str, run_dirs))} "
                               "(profiles/<job>.json): run a bench with modes.profile first")
    profiles = [ProfiledModel.of(d) for d in documents]
    chosen = [p for p in profiles if (board_id is None or p.board == board_id)
              and (kernels is None or p.kernels == kernels)]
    if not chosen:
        found = sorted({f"{p.board} with {p.kernels}" for p in profiles})
        raise CalibrationError(f"no profile of board {board_id or 'any'} with kernels "
                               f"{kernels or 'any'} (the runs have: {', '.join(found)})")
    first = chosen[0]
    calibration = fit_calibration(chosen, published_cost(first.core, first.kernels),
                                  created=utc_now(), harness_version=__version__)
    path = save_calibration(calibration, out_path or calibration_path(first.board,
                                                                       first.kernels))
    if as_json:
        print_json({"path": str(path), **calibration.to_json()})
        return
    table = Table("model", "profiles", f"measured {calibration.unit}",
                  "predicted without it", "error", "kinds only it has", box=None,
                  title=f"{calibration.name} ({calibration.source}): leave-one-model-out")
    for fold in calibration.models:
        table.add_row(fold.model, str(fold.profiles), f"{fold.measured:,.0f}",
                      f"{fold.predicted:,.0f}", f"{fold.error_pct:+.1f} %",
                      ", ".join(fold.unseen_kinds) or "–")
    out.print(table)
    out.print(f"calibration: {path} ({len(calibration.kinds)} op kinds from "
              f"{len(calibration.profiles)} profiles)")
