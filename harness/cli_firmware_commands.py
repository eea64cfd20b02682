"""`harness build` and `harness flash`: firmware images for a board and a model."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from harness.cli_options import boards_dir_option
from harness.config.bench import BenchModel
from harness.config.board import BoardSpec, find_board
from harness.errors import BoardError, ModelError
from harness.models.mlperf_tiny import mlperf_tiny_dir
from harness.paths import default_cache_dir

out = Console()

_board_opt = click.option("--board", "board_id", required=True,
                          help="Board id (a boards/*.yaml file name).")
_model_opt = click.option("--model", "model", default=None, metavar="MODEL",
                          help="A .tflite path, mlperf:<file> or builtin:<name>.")
_variant_opt = click.option("--variant", default="as-is", show_default=True,
                            help="Model variant to embed.")


def _model_path(model: str, variant: str) -> Path:
    from harness.models.resolve import resolve_model

    resolved = resolve_model(BenchModel(id="cli", path=model), variant, Path.cwd(),
                             mlperf_tiny_dir(), default_cache_dir())
    if resolved.path is None:  # only optional bench models resolve to nothing
        raise ModelError(resolved.skip_reason or f"model {model!r} not found")
    return resolved.path


def _report(board: BoardSpec, image: Path, model: Path, arena: int) -> None:
    from harness.firmware.elf_size import elf_sizes

    sizes = elf_sizes(image)
    out.print(f"{board.id}: {image}")
    out.print(f"  model {model.name}, arena {arena:,} B")
    out.print(f"  flash {sizes.flash_bytes:,} of {board.memory.flash_bytes:,} B, "
              f"RAM {sizes.ram_bytes:,} of {board.memory.ram_bytes:,} B (static)")


@click.command()
@_board_opt
@click.option("--model", "model", required=True, metavar="MODEL",
              help="A .tflite path, mlperf:<file> or builtin:<name>.")
@_variant_opt
@click.option("--kernels", type=click.Choice(["cmsis_nn", "reference"]), default="cmsis_nn",
              show_default=True, help="TFLM kernels of the QEMU board's image.")
@click.option("--arena-bytes", type=int, default=None,
              help="Tensor arena (default: the TFLM host runtime's figure plus a margin).")
@boards_dir_option
def build(board_id: str, model: str, variant: str, kernels: str,
          arena_bytes: int | None, boards_dir: Path | None) -> None:
    """Build the firmware for BOARD running MODEL (cached by content hash)."""
    board = find_board(board_id, boards_dir)
    path = _model_path(model, variant)
    if board.build.system == "platformio":
        from harness.firmware.pio_project import build_firmware

        made = build_firmware(board.build.env, path, arena_bytes)
        _report(board, made.elf, path, made.model.arena_bytes)
    elif board.build.system == "qemu-make":
        from harness.firmware.qemu_tflm import build_qemu_tflm_image

        image = build_qemu_tflm_image(path, "reference" if kernels == "reference" else "cmsis_nn",
                                      arena_bytes=arena_bytes)
        _report(board, image.image.elf, path, image.model.arena_bytes)
    else:
        raise BoardError(f"board {board.id} is simulated: it runs the TFLM host runtime, "
                         "there is no firmware to build")


@click.command()
@_board_opt
@click.option("--port", default=None,
              help="Serial port of the board (e.g. /dev/ttyACM0); default: the one USB port "
                   "with the board file's usb_vid_pid (and --serial-number), as `run` finds it.")
@click.option("--serial-number", default=None,
              help="USB serial number, to tell two boards of one kind apart (without --port).")
@_model_opt
@_variant_opt
@boards_dir_option
def flash(board_id: str, port: str | None, serial_number: str | None, model: str | None,
          variant: str, boards_dir: Path | None) -> None:
    """Flash BOARD on PORT: with MODEL's firmware (built if needed), else the last build."""
    from harness.boards.driver import LinkHint
    from harness.boards.usb_ports import find_port
    from harness.firmware.pio_project import build_firmware, latest_build, project_envs
    from harness.firmware.platformio import upload

    board = find_board(board_id, boards_dir)
    if board.build.system != "platformio":
        raise BoardError(f"board {board.id} ({board.kind}) is not flashed: the harness "
                         "starts it with the model when a bench runs")
    envs = project_envs()
    if board.build.env not in envs:
        raise BoardError(f"firmware/platformio.ini has no environment {board.build.env!r} "
                         f"for board {board.id}")
    env = envs[board.build.env]
    port = find_port(board, LinkHint(port=port or "auto", serial_number=serial_number))
    project = build_firmware(env.name, _model_path(model, variant)).project if model \
        else latest_build(env.name)
    upload(project, env, port)
    out.print(f"{board.id} on {port}: flashed {project}")
