"""PlatformIO from the harness: read the project's environments, make sure an
environment's platform is installed, build, upload.

Without its platform installed, ``pio run`` tries PlatformIO's registry and,
where that cannot be reached (this machine, many lab networks), spends about a
minute retrying before it fails. So the platform is looked up first, in the
PlatformIO core folder (milliseconds). A missing one is installed as ``pio run``
would install it, with pio's progress on stderr, when the registry answers a
probe within a few seconds; when it does not, the BoardError says what to
install and how. The registry is probed every time, never assumed offline.
"""

from __future__ import annotations

import configparser
import http.client
import json
import logging
import os
import queue
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness import procs
from harness.errors import BoardError

log = logging.getLogger(__name__)

BUILD_TIMEOUT_S = 3600   # a first build compiles TFLM: minutes
UPLOAD_TIMEOUT_S = 300
INSTALL_TIMEOUT_S = 1800  # a platform and its toolchain: hundreds of MB on a slow link

# PlatformIO's registry API: its host and mirror (platformio/__init__.py,
# __registry_mirror_hosts__); $HARNESS_PIO_REGISTRY (comma-separated URLs) replaces them.
REGISTRY_URLS = ("https://api.registry.platformio.org", "https://api.registry.nm1.platformio.org")
REGISTRY_ENV = "HARNESS_PIO_REGISTRY"
REGISTRY_TIMEOUT_S = 3.0
STDERR_FD = 2  # pio's progress goes where the harness's own messages go


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

    @property
    def install_spec(self) -> str:
        """The platform as platformio.ini names it (owner prefix kept), as `pio run` installs it."""
        return self.options["platform"].strip()


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


def installed_platforms(core: Path | None = None) -> dict[str, set[str]]:
    """Installed platforms, name -> versions (one folder each), from their platform.json."""
    folder = (core or core_dir()) / "platforms"
    found: dict[str, set[str]] = {}
    for manifest in sorted(folder.glob("*/platform.json")):
        try:
            data = json.loads(manifest.read_text())
            found.setdefault(data["name"], set()).add(str(data["version"]))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("%s: unreadable platform manifest (%s); ignored", manifest, exc)
    return found


def _has_platform(env: PioEnv, core: Path) -> bool:
    have = installed_platforms(core).get(env.platform, set())
    return bool(have) and (env.platform_version is None or env.platform_version in have)


@dataclass(frozen=True)
class RegistryProbe:
    url: str | None   # the first registry URL that answered; None: none did
    detail: str       # its HTTP status, or why each one did not answer


def registry_urls() -> tuple[str, ...]:
    """PlatformIO's registry API URLs, or $HARNESS_PIO_REGISTRY's."""
    listed = os.environ.get(REGISTRY_ENV, "").split(",")
    return tuple(u.strip().rstrip("/") for u in listed if u.strip()) or REGISTRY_URLS


def _tls_context() -> ssl.SSLContext:
    # the CA bundle PlatformIO (requests) trusts when one is set, e.g. behind a TLS proxy
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle or None)


def probe_registry(path: str, urls: tuple[str, ...] | None = None,
                   timeout: float = REGISTRY_TIMEOUT_S) -> RegistryProbe:
    """GET ``path`` from every registry URL at once; the first HTTP answer below 500 wins.

    Bounded by ``timeout`` as a whole, name lookup included (a lab's resolver may
    hang for longer than any socket timeout): the requests run in daemon threads.
    """
    urls = urls or registry_urls()
    answers: queue.Queue[tuple[str, int | None, str]] = queue.Queue()

    def ask(url: str) -> None:
        request = urllib.request.Request(url + path, headers={"User-Agent": "tinyml-harness"})
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=_tls_context()) as r:
                answers.put((url, r.status, ""))
        except urllib.error.HTTPError as exc:
            answers.put((url, exc.code, ""))
        except urllib.error.URLError as exc:
            answers.put((url, None, str(exc.reason)))
        except (OSError, ValueError, http.client.HTTPException) as exc:
            answers.put((url, None, str(exc) or type(exc).__name__))

    for url in urls:
        threading.Thread(target=ask, args=(url,), name="pio-registry-probe", daemon=True).start()
    deadline = time.monotonic() + timeout
    failed: dict[str, str] = {}
    while len(failed) < len(urls):
        try:
            url, status, why = answers.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if status is not None and status < 500:
            return RegistryProbe(url, f"HTTP {status}")
        failed[url] = why or f"HTTP {status}"
    waited = {url: failed.get(url, f"no answer within {timeout:g} s") for url in urls}
    return RegistryProbe(None, "; ".join(f"{url}: {why}" for url, why in waited.items()))


def install_platform(env: PioEnv, core: Path) -> None:
    """``pio pkg install --global --platform <spec>`` into ``core``, progress on stderr."""
    cmd = [str(pio_executable()), "pkg", "install", "--global", "--platform", env.install_spec]
    log.warning("installing PlatformIO platform %s for %s into %s: %s", env.install_spec,
                env.name, core, " ".join(cmd))
    try:
        run = procs.run(cmd, timeout=INSTALL_TIMEOUT_S, stdout=STDERR_FD,
                        env={**os.environ, "PLATFORMIO_CORE_DIR": str(core)})
    except subprocess.TimeoutExpired as exc:
        raise BoardError(f"installing {env.install_spec} timed out after {INSTALL_TIMEOUT_S} s "
                         f"({' '.join(cmd)})") from exc
    if run.returncode != 0:
        raise BoardError(f"installing {env.install_spec} for {env.name} failed (exit "
                         f"{run.returncode}; pio's output is above): {' '.join(cmd)}")
    if not _has_platform(env, core):
        raise BoardError(f"`{' '.join(cmd)}` succeeded, but {core} still has no "
                         f"{env.platform_spec} (installed: {_listed(core)})")


def _listed(core: Path) -> str:
    return ", ".join(f"{name}@{version}" for name, versions in
                     sorted(installed_platforms(core).items())
                     for version in sorted(versions)) or "none"


def require_platform(env: PioEnv, core: Path | None = None) -> None:
    """Make sure ``env``'s platform is installed at its pinned version: install it when
    PlatformIO's registry answers, else a BoardError within REGISTRY_TIMEOUT_S."""
    core = core or core_dir()
    if _has_platform(env, core):
        return
    have = installed_platforms(core).get(env.platform)
    what = (f"PlatformIO platform {env.platform_spec} is not installed" if not have else
            f"PlatformIO platform {env.platform} is installed at {', '.join(sorted(have))}, "
            f"not at the pinned {env.platform_version}")
    probe = probe_registry(f"/v3/packages/platformio/platform/{env.platform}")
    if probe.url is not None:
        log.warning("environment %s needs %s, but %s in %s; PlatformIO's registry answers "
                    "(%s, %s)", env.name, env.platform_spec, what, core, probe.url, probe.detail)
        install_platform(env, core)
        return
    raise BoardError(
        f"environment {env.name} needs {env.platform_spec}, but {what} in {core} "
        f"(installed: {_listed(core)}). PlatformIO's registry did not answer within "
        f"{REGISTRY_TIMEOUT_S:g} s ({probe.detail}), and `pio run` would retry it for about a "
        f"minute before failing. On a machine with internet run "
        f"`pio pkg install -g -p {env.platform_spec}` and "
        f"`pio pkg install -d firmware -e {env.name}` (toolchain, framework, libraries), "
        f"then copy {core} to this machine (or point PLATFORMIO_CORE_DIR at a copy).")


def _run(args: list[str], project: Path, timeout: int, what: str) -> None:
    cmd = [str(pio_executable()), *args]
    log.info("%s: %s", what, " ".join(cmd))
    try:
        run = procs.run(cmd, cwd=project, capture_output=True, text=True, timeout=timeout)
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
