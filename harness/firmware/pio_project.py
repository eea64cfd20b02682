"""A PlatformIO build of the firmware for one board and one model, cached.

Each build gets its own copy of the project, ``firmware/build/pio/<env>-<hash>/``
(``harness build`` never writes into firmware/ itself): the project files, the
model's generated sources in ``src/model/``, and for the STM32 environments the
TFLM tree in ``lib/tflm``. The hash covers all of it, so an unchanged board,
model and firmware is never rebuilt and any change gives a new folder. A build
is complete when its stamp file exists; a lock keeps two processes from
building the same folder at once. Folders are never moved after a build:
PlatformIO (and ESP-IDF's CMake cache) record absolute paths.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import procs
from harness.errors import BoardError
from harness.firmware.model_embed import EmbeddedModel, embed_model
from harness.firmware.platformio import PioEnv, build, read_envs, require_platform
from harness.firmware.tflm_source import tflm_dir, tflm_make_env
from harness.paths import project_root

log = logging.getLogger(__name__)

# What a build copies from firmware/ (the QEMU port and host tests stay out).
PROJECT_FILES = ("platformio.ini", "CMakeLists.txt", "sdkconfig.defaults")
PROJECT_DIRS = ("src", "scripts", "support", "lib/harness_proto", "lib/runner_tflm")
STAMP = ".harness-build.json"
BUILD_FLAGS_ENV = "PLATFORMIO_BUILD_FLAGS"
# An environment with this option builds TFLM from a tree made from TFLM_DIR
# for that TARGET_ARCH (the STM32 boards); the others bring their own TFLM.
TREE_OPTION = "custom_tflm_arch"
TREE_TIMEOUT_S = 600


@dataclass(frozen=True)
class PioBuild:
    env: PioEnv
    project: Path          # the build's own copy of the project
    elf: Path
    model: EmbeddedModel
    digest: str
    tree: Path | None      # the TFLM tree linked as lib/tflm (STM32 environments)


def firmware_dir() -> Path:
    return project_root() / "firmware"


def build_root() -> Path:
    return firmware_dir() / "build" / "pio"


def project_envs() -> dict[str, PioEnv]:
    return read_envs(firmware_dir() / "platformio.ini")


def _project_files() -> list[Path]:
    fw = firmware_dir()
    files = [fw / name for name in PROJECT_FILES]
    for folder in PROJECT_DIRS:
        files += [p for p in (fw / folder).rglob("*") if p.is_file()
                  and not {"model", "__pycache__"} & set(p.relative_to(fw).parts)]
    return sorted(files)


def _digest(env: PioEnv, model: EmbeddedModel, tree: Path | None) -> str:
    # PlatformIO adds $PLATFORMIO_BUILD_FLAGS (e.g. -DHARNESS_MARKER_PULSE_US=2) to every
    # build: other flags, other firmware
    flags = os.environ.get(BUILD_FLAGS_ENV, "")
    h = hashlib.sha256(f"env={env.name}\nmodel={model.digest}\ntree={tree}\n"
                       f"flags={flags}\n".encode())
    fw = firmware_dir()
    for path in _project_files():
        h.update(str(path.relative_to(fw)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def tflm_fingerprint(root: Path) -> str:
    """Cheap identity of a tflite-micro checkout: every source file's path, size
    and mtime (half a second), so an updated checkout gives a new tree."""
    h = hashlib.sha256(str(root).encode())
    for top in ("tensorflow", "signal", "third_party"):
        for folder, dirs, names in os.walk(root / top):
            dirs.sort()
            for name in sorted(names):
                st = os.stat(os.path.join(folder, name))
                h.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def tflm_tree(arch: str, tflm: Path | None = None) -> Path:
    """A TFLM source tree (create_tflm_tree.py, cortex_m_generic + CMSIS-NN) for
    ``arch``, made once per checkout state, with the manifest PlatformIO needs."""
    root = tflm_dir(tflm)
    out = build_root() / f"tflm-tree-{arch}-{tflm_fingerprint(root)[:16]}"
    if (out / "library.json").is_file():
        return out
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    options = (f"TARGET=cortex_m_generic TARGET_ARCH={arch} OPTIMIZED_KERNEL_DIR=cmsis_nn "
               # never download a compiler: the environments bring their own
               f"TARGET_TOOLCHAIN_ROOT={Path(shutil.which('gcc') or '/usr/bin/gcc').parent}/")
    cmd = ["python3", "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py",
           f"--makefile_options={options}", str(tmp)]
    log.info("generating the TFLM tree for %s: %s", arch, " ".join(cmd))
    try:
        run = procs.run(cmd, cwd=root, capture_output=True, text=True,
                        timeout=TREE_TIMEOUT_S, env=tflm_make_env())
    except subprocess.TimeoutExpired as exc:
        raise BoardError(f"create_tflm_tree.py in {root} timed out") from exc
    if run.returncode != 0 or not (tmp / "tensorflow").is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-15:])
        raise BoardError(f"create_tflm_tree.py failed in {root}:\n{tail}")
    shutil.copy(firmware_dir() / "support" / "tflm_library.json", tmp / "library.json")
    try:
        tmp.rename(out)
    except OSError:  # made by another process meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def plan_build(env_name: str, model: Path, arena_bytes: int | None = None,
               tflm: Path | None = None) -> PioBuild:
    """Where the firmware for ``env_name`` running ``model`` is (or will be) built:
    the model's sources and the TFLM tree are made, the project is not copied."""
    envs = project_envs()
    if env_name not in envs:
        raise BoardError(f"firmware/platformio.ini has no environment {env_name!r} "
                         f"(it has: {', '.join(sorted(envs))})")
    env = envs[env_name]
    embedded = embed_model(model, build_root() / "models", arena_bytes)
    arch = env.options.get(TREE_OPTION, "").strip()
    tree = tflm_tree(arch, tflm) if arch else None
    digest = _digest(env, embedded, tree)
    project = build_root() / f"{env.name}-{digest[:16]}"
    return PioBuild(env, project, project / ".pio" / "build" / env.name / "firmware.elf",
                    embedded, digest, tree)


def stage(planned: PioBuild) -> None:
    """Write the build's copy of the project: firmware files, src/model, lib/tflm."""
    dest = planned.project
    shutil.rmtree(dest, ignore_errors=True)
    fw = firmware_dir()
    for path in _project_files():
        target = dest / path.relative_to(fw)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    shutil.copytree(planned.model.folder, dest / "src" / "model")
    if planned.tree is not None:
        (dest / "lib" / "tflm").symlink_to(planned.tree, target_is_directory=True)


def build_firmware(env_name: str, model: Path, arena_bytes: int | None = None,
                   tflm: Path | None = None) -> PioBuild:
    """The firmware for PlatformIO environment ``env_name`` running ``model``."""
    envs = project_envs()
    if env_name in envs:
        require_platform(envs[env_name])  # milliseconds, before any model or TFLM work
    planned = plan_build(env_name, model, arena_bytes, tflm)
    with _locked(build_root() / f"{planned.project.name}.lock"):
        if (planned.project / STAMP).is_file():
            log.info("firmware for %s with %s is cached in %s", env_name, model.name,
                     planned.project)
            return planned
        stage(planned)
        build(planned.project, planned.env)
        (planned.project / STAMP).write_text(json.dumps(
            {"env": env_name, "model": str(model), "model_sha256": planned.model.sha256,
             "arena_bytes": planned.model.arena_bytes, "digest": planned.digest}, indent=1))
    return planned


def latest_build(env_name: str) -> Path:
    """The project folder of the newest complete build for ``env_name``."""
    stamps = sorted(build_root().glob(f"{env_name}-*/{STAMP}"), key=lambda p: p.stat().st_mtime)
    if not stamps:
        raise BoardError(f"no firmware has been built for {env_name} yet: "
                         f"run `harness build --board <board> --model <model>` first")
    return stamps[-1].parent
