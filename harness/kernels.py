"""Kernel libraries as a bench axis: which a board's build can use, and how a job says which.

A bench board that lists ``kernels: [cmsis-nn, reference]`` runs every model once per
library; its jobs and rows name the board ``<id>@<kernels>`` (``qemu@reference``), so
one run compares them and the report's savings table shows what CMSIS-NN buys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.config.board import BoardSpec

SEPARATOR = "@"    # bench board ids cannot hold it (config/bench.py _ID)
# What the QEMU image's Makefile builds TFLM with (firmware/qemu/Makefile TFLM_KERNELS).
QEMU_KERNELS = ("cmsis-nn", "reference")


def board_label(board_id: str, kernels: str | None) -> str:
    return board_id if kernels is None else f"{board_id}{SEPARATOR}{kernels}"


def split_board_label(label: str) -> tuple[str, str | None]:
    """``qemu@reference`` -> (``qemu``, ``reference``); ``qemu`` -> (``qemu``, None)."""
    board, sep, kernels = label.partition(SEPARATOR)
    return board, kernels if sep else None


def supported_kernels(board: BoardSpec) -> tuple[str, ...]:
    """The kernel libraries a board's build can run: the QEMU image either of TFLM's; a
    simulated board any its core has latency constants for; a PlatformIO build only the
    one its environment compiles in (docs/firmware.md)."""
    from harness.boards.latency_model import PROFILES

    if board.kind == "sim":
        return tuple(k for core, k in PROFILES if core == board.core)
    if board.build.system == "qemu-make":
        return QEMU_KERNELS
    return (board.build.kernels,)


def with_kernels(board: BoardSpec, kernels: str | None) -> BoardSpec:
    """The board definition as a job with ``kernels`` sees it (its build's library)."""
    if kernels is None or kernels == board.build.kernels:
        return board
    return board.model_copy(update={"build": board.build.model_copy(update={"kernels": kernels})})
