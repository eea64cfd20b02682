"""PlatformIO from the harness: read the project's environments, check that an
environment's platform is installed, build, upload.

Without its platform installed, ``pio run`` tries PlatformIO's registry and,
where that cannot be reached (this machine, many lab networks), spends about a
minute retrying before it fails. So the platform is looked up first, in the
PlatformIO core folder, which takes milliseconds, and a missing one is a
BoardError that says what to install and how.
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BoardError

log = logging.getLogger(__name__)

BUILD_TIMEOUT_S = 3600   # a first build compiles TFLM: minutes
UPLOAD_TIMEOUT_S = 300


@dataclass(frozen=True)
class PioEnv:
    """One ``[env:<name>]`` of platformio.ini, with the ``[env]`` defaults merged in."""

    name: str
    platform: str                # "nordicnrf52" (owner prefix dropped)
    platform_version: str | None  # "10.11.0" when pinned with @
    board: str
    framework: str
    options: dict[str, str]

    @property
    def platform_spec(self) -> str:
        return f"{self.platform}@{self.platform_version}" if self.platform_version \
            else self.platform


def read_envs(ini: Path) -> dict[str, PioEnv]:
    """The environments of a platformio.ini, by name."""
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    try:
        parser.read_string(ini.read_text(), source=str(ini))
    except (OSError, configparser.Error) as exc:
        raise BoardError(f"{ini}: cannot read it as a PlatformIO project file: {exc}") from exc
    defaults = dict(parser["env"]) if parser.has_section("env") else {}
    envs = {}
    for section in parser.sections():
        if not section.startswith("env:"):
            continue
        name = section[4:]
        options = {**defaults, **dict(parser[section])}
        missing = [k for k in ("platform", "board", "framework") if not options.get(k)]
        if missing:
            raise BoardError(f"{ini}: [env:{name}] has no {', '.join(missing)}")
        spec = options["platform"].strip()
        platform, _, version = spec.partition("@")
        envs[name] = PioEnv(name=name, platform=platform.rsplit("/", 1)[-1],
                            platform_version=version or None, board=options["board"].strip(),
                            framework=options["framework"].strip(), options=options)
    return envs


def pio_executable() -> Path:
    """``pio`` on PATH, or beside this Python (a venv that is not activated)."""
    found = shutil.which("pio") or shutil.which("platformio")
    if found:
        return Path(found)
    beside = Path(sys.executable).parent / "pio"
    if beside.is_file():
        return beside
    raise BoardError("PlatformIO is not installed: `pip install platformio` "
                     "(or `pip install -e '.[firmware]'`)")


def core_dir() -> Path:
    """PlatformIO's core folder: $PLATFORMIO_CORE_DIR or ~/.platformio."""
    env = os.environ.get("PLATFORMIO_CORE_DIR")
    return Path(env) if env else Path.home() / ".platformio"


def installed_platforms(core: Path | None = None) -> dict[str, str]:
    """Installed platforms, name -> version, from each one's platform.json."""
    folder = (core or core_dir()) / "platforms"
    found = {}
    for manifest in sorted(folder.glob("*/platform.json")):
        try:
            data = json.loads(manifest.read_text())
            found[data["name"]] = str(data["version"])
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable platform manifest (%s); ignored", manifest, exc)
    return found


def require_platform(env: PioEnv, core: Path | None = None) -> None:
    """BoardError, at once, unless ``env``'s platform is installed at its pinned version."""
    core = core or core_dir()
    installed = installed_platforms(core)
    have = installed.get(env.platform)
    if have is not None and env.platform_version in (None, have):
        return
    what = (f"PlatformIO platform {env.platform_spec} is not installed" if have is None else
            f"PlatformIO platform {env.platform} is installed at {have}, "
            f"not at the pinned {env.platform_version}")
    listed = ", ".join(f"{k}@{v}" for k, v in sorted(installed.items())) or "none"
    raise BoardError(
        f"environment {env.name} needs {env.platform_spec}, but {what} in {core} "
        f"(installed: {listed}). PlatformIO's registry cannot be reached from here, and "
        f"`pio run` would retry it for about a minute before failing. On a machine with "
        f"internet run `pio pkg install -g -p {env.platform_spec}` and "
        f"`pio pkg install -d firmware -e {env.name}` (toolchain, framework, libraries), "
        f"then copy {core} to this machine (or point PLATFORMIO_CORE_DIR at a copy).")


def _run(args: list[str], project: Path, timeout: int, what: str) -> None:
    cmd = [str(pio_executable()), *args]
    log.info("%s: %s", what, " ".join(cmd))
    try:
        run = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=timeout,
                             check=False)
    except subprocess.TimeoutExpired as exc:
        raise BoardError(f"{what} timed out after {timeout} s ({' '.join(cmd)})") from exc
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).strip().splitlines()[-20:])
        raise BoardError(f"{what} failed ({' '.join(cmd)}):\n{tail}")


def build(project: Path, env: PioEnv) -> Path:
    """``pio run -e <env>`` in ``project``; the ELF it made."""
    require_platform(env)
    _run(["run", "-d", str(project), "-e", env.name], project, BUILD_TIMEOUT_S,
         f"PlatformIO build of {env.name}")
    elf = project / ".pio" / "build" / env.name / "firmware.elf"
    if not elf.is_file():
        raise BoardError(f"PlatformIO built {env.name} but left no {elf}")
    return elf


def upload(project: Path, env: PioEnv, port: str) -> None:
    """``pio run -e <env> -t upload --upload-port <port>`` (built already: nothing to compile)."""
    require_platform(env)
    _run(["run", "-d", str(project), "-e", env.name, "-t", "upload", "--upload-port", port],
         project, UPLOAD_TIMEOUT_S, f"upload of {env.name} to {port}")
