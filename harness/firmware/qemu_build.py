"""Build the firmware image for the emulated board (firmware/qemu) with make.

Images are cached by a hash of everything that goes into them (the port's and
the libraries' sources, the runner and the make variables), one folder per hash
under ``firmware/qemu/build/``: a second build of unchanged sources is free, and
an edit to any source gives a new image.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import procs
from harness.errors import BoardError
from harness.paths import project_root

log = logging.getLogger(__name__)

TOOLCHAIN = "arm-none-eabi-gcc"
APT_HINT = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
BUILD_TIMEOUT_S = 300
_SOURCE_SUFFIXES = {".c", ".cc", ".h", ".ld", ".S"}


@dataclass(frozen=True)
class QemuImage:
    elf: Path
    runner: str
    digest: str          # content hash the image was built from
    flash_bytes: int     # text + data: what a board would hold in flash
    ram_bytes: int       # data + bss (the stack included)


def firmware_dir() -> Path:
    return project_root() / "firmware"


def _inputs(runner: str) -> list[Path]:
    fw = firmware_dir()
    folders = [fw / "qemu", fw / "lib" / "harness_proto", fw / "lib" / f"runner_{runner}"]
    missing = [f for f in folders if not f.is_dir()]
    if missing:
        raise BoardError(f"cannot build the QEMU image with runner {runner!r}: "
                         f"{missing[0]} does not exist")
    files = [fw / "qemu" / "Makefile"]
    for folder in folders:
        files += [p for p in folder.rglob("*") if p.suffix in _SOURCE_SUFFIXES
                  and "build" not in p.relative_to(folder).parts]
    return sorted(files)


def source_digest(runner: str, make_vars: dict[str, str]) -> str:
    """SHA-256 over the image's source files (paths and contents) and build settings."""
    h = hashlib.sha256()
    root = firmware_dir()
    for path in _inputs(runner):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    for key, value in sorted({"RUNNER": runner, **make_vars}.items()):
        h.update(f"{key}={value}\n".encode())
    return h.hexdigest()


def build_qemu_image(runner: str = "checksum", make_vars: dict[str, str] | None = None,
                     cache_dir: Path | None = None) -> QemuImage:
    """The ELF for QEMU's mps2-an386 with ``runner``; built only if not cached."""
    make_vars = dict(make_vars or {})
    digest = source_digest(runner, make_vars)
    for tool in (TOOLCHAIN, "make"):
        if shutil.which(tool) is None:
            raise BoardError(f"cannot build the QEMU firmware: {tool} is not on PATH "
                             f"(Debian: {APT_HINT} make)")
    out = (cache_dir or firmware_dir() / "qemu" / "build") / f"{runner}-{digest[:16]}"
    if not (out / "fw.elf").is_file():
        _make(runner, make_vars, out)
    else:
        log.debug("QEMU image %s is cached", out)
    flash, ram = _sizes(out / "fw.size")
    return QemuImage(out / "fw.elf", runner, digest, flash, ram)


def _make(runner: str, make_vars: dict[str, str], out: Path) -> None:
    # Build into a private folder and rename it into place: a concurrent build
    # of the same sources never sees half an image.
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = ["make", "--no-print-directory", "-C", str(firmware_dir() / "qemu"),
           f"RUNNER={runner}", f"BUILD={tmp}", *(f"{k}={v}" for k, v in sorted(make_vars.items()))]
    log.info("building the QEMU image: %s", " ".join(cmd))
    try:
        run = procs.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BoardError(f"QEMU firmware build timed out after {BUILD_TIMEOUT_S} s") from exc
    if run.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-15:])
        raise BoardError(f"QEMU firmware build failed ({' '.join(cmd)}):\n{tail}")
    try:
        tmp.rename(out)
    except OSError:  # another process finished the same image first
        shutil.rmtree(tmp, ignore_errors=True)


def _sizes(size_file: Path) -> tuple[int, int]:
    """(flash, RAM) bytes from arm-none-eabi-size's Berkeley output."""
    lines = size_file.read_text().split("\n")
    try:
        text, data, bss = (int(v) for v in lines[1].split()[:3])
    except (IndexError, ValueError) as exc:
        raise BoardError(f"{size_file}: expected arm-none-eabi-size output (text data bss), "
                         f"got {lines[:2]!r}") from exc
    return text + data, data + bss
