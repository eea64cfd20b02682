"""MLPerf Tiny's own DUT code, built for the emulated board (QEMU mps2-an386) against TFLM.

A second, upstream DUT beside the harness firmware's own MLPerf text mode: the
parser and main loop of mlcommons/tiny (``benchmark/main.cpp``,
``benchmark/api/``), its model runner (``benchmark/util/``) and a reference
submission's glue and model (``benchmark/reference_submissions/<bm>/``), laid
out as that submission's ``setup_example.sh`` lays them out, on the board of
``firmware/mlperf_dut/`` (our Mbed stand-in, UART, SysTick) and the TFLM library
``qemu_tflm`` builds. Nothing of theirs is in this project: the sources are
read from a checkout (``$MLPERF_TINY_DIR``) and copied into a build folder.

Their glue was written for TensorFlow v2.3.1's TFLM; today's TFLM dropped the
ErrorReporter argument of ``MicroInterpreter`` and ``micro_error_reporter.h``.
``ADAPTATIONS`` lists every change made to the copy, each with its reason; each
must match exactly once, so a checkout whose code moved fails naming the file
and the change rather than building something else. The copy's diff is kept as
``adaptations.diff`` in the build folder.

Builds are cached like the harness images: one folder per digest of the adapted
sources, the port, the make variables and the library.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import procs
from harness.errors import BoardError
from harness.firmware.qemu_build import APT_HINT, _sizes, firmware_dir
from harness.firmware.qemu_tflm import Kernels, build_tflm_library
from harness.firmware.tflm_source import tflm_dir

log = logging.getLogger(__name__)

MLPERF_TINY_ENV = "MLPERF_TINY_DIR"
MLPERF_TINY_HINT = ("point MLPERF_TINY_DIR at a checkout of github.com/mlcommons/tiny "
                    "(benchmark/api/, benchmark/reference_submissions/); docs/mlperf.md, "
                    "'MLPerf Tiny's own code'")
BUILD_TIMEOUT_S = 900
_PORT_FILES = ("mlperf_dut/Makefile", "mlperf_dut/mbed.h", "mlperf_dut/port.c",
               "qemu/startup.c", "qemu/semihost.c", "qemu/semihost.h", "qemu/uart_cmsdk.c",
               "qemu/uart_cmsdk.h", "qemu/cycles_systick.c", "qemu/cycles_systick.h",
               "qemu/mps2_an386.ld")


@dataclass(frozen=True)
class ReferenceGlue:
    """Where one reference submission keeps its glue and model in mlcommons/tiny."""

    benchmark: str          # what its profile reports: ic01, kws01
    folder: str             # the submission, from the checkout's root
    model_subdir: str       # its model folder (sources compiled as they are)
    model_source: str       # the C array of the model, in model_subdir
    model_array: str        # the array's name
    model_file: str         # the .tflite of the MLPerf Tiny folder it should equal


GLUES: dict[str, ReferenceGlue] = {
    "ic01": ReferenceGlue("ic01", "benchmark/reference_submissions/image_classification", "ic",
                          "ic_model_quant_data.cc", "pretrainedResnet_quant_tflite",
                          "ic01_int8.tflite"),
    "kws01": ReferenceGlue("kws01", "benchmark/reference_submissions/keyword_spotting", "kws",
                           "kws_model_data.cc", "g_kws_model_data", "kws01_int8.tflite"),
}


@dataclass(frozen=True)
class Adaptation:
    """One change to the copy of their code: ``pattern`` (a regex) becomes ``replacement``
    in ``path`` (relative to the laid-out folder; ``{model}`` is the model folder)."""

    path: str
    pattern: str
    replacement: str
    why: str
    benchmarks: tuple[str, ...] = ()    # empty: every benchmark


ADAPTATIONS: tuple[Adaptation, ...] = (
    Adaptation("util/tf_micro_model_runner.h",
               r'#include "tensorflow/lite/micro/micro_error_reporter\.h"',
               '#include "tensorflow/lite/micro/micro_log.h"',
               "micro_error_reporter.h is gone from TFLM; MicroPrintf (micro_log.h) replaced "
               "the reporter"),
    Adaptation("util/tf_micro_model_runner.h", r"\n\s*reporter_\(&micro_reporter_\),", "",
               "no reporter member to initialise"),
    Adaptation("util/tf_micro_model_runner.h", r"tensor_arena_size,\s*reporter_\)",
               "tensor_arena_size)",
               "MicroInterpreter's 5th argument is no longer an ErrorReporter*"),
    Adaptation("util/tf_micro_model_runner.h",
               r'TF_LITE_REPORT_ERROR\(reporter_, "Invoke failed\."\);',
               'MicroPrintf("Invoke failed.");', "TF_LITE_REPORT_ERROR became MicroPrintf"),
    Adaptation("util/tf_micro_model_runner.h",
               r"\n\s*tflite::MicroErrorReporter micro_reporter_;\n\s*tflite::ErrorReporter\* "
               r"reporter_;", "", "MicroErrorReporter no longer exists"),
    Adaptation("submitter_implemented.cpp",
               r'#include "tensorflow/lite/micro/micro_error_reporter\.h"\n', "",
               "micro_error_reporter.h is gone from TFLM (the glue uses nothing of it)"),
    Adaptation("{model}/kws_model_data.cc", r"\nconst unsigned char g_kws_model_data\[\]",
               "\nalignas(16) const unsigned char g_kws_model_data[]",
               "TFLM reads the flatbuffer in place and needs it 16-byte aligned (the other "
               "references' arrays are alignas(8) or more; this one has none)", ("kws01",)),
)


@dataclass(frozen=True)
class MlperfDutImage:
    elf: Path
    benchmark: str
    digest: str
    folder: Path            # the build folder: src/ (the adapted copy), adaptations.diff
    model_sha256: str       # of the model array their glue embeds
    flash_bytes: int
    ram_bytes: int


def mlperf_tiny_checkout(path: Path | None = None) -> Path:
    """The mlcommons/tiny checkout: ``path``, else $MLPERF_TINY_DIR."""
    if path is None:
        env = os.environ.get(MLPERF_TINY_ENV)
        if not env:
            raise BoardError(f"{MLPERF_TINY_ENV} is not set: {MLPERF_TINY_HINT}")
        path = Path(env)
    path = path.expanduser().resolve()
    if not (path / "benchmark" / "api" / "internally_implemented.cpp").is_file():
        raise BoardError(f"{path} is not a checkout of mlcommons/tiny (no "
                         f"benchmark/api/internally_implemented.cpp): {MLPERF_TINY_HINT}")
    return path


def glue(benchmark: str) -> ReferenceGlue:
    if benchmark not in GLUES:
        raise BoardError(f"no reference glue for {benchmark!r} is built here "
                         f"(known: {', '.join(GLUES)})")
    return GLUES[benchmark]


def reference_model_bytes(tiny: Path, benchmark: str) -> bytes:
    """The model their glue embeds: the bytes of its C array."""
    g = glue(benchmark)
    source = tiny / g.folder / g.model_subdir / g.model_source
    text = source.read_text()
    found = re.search(re.escape(g.model_array) + r"\[\][^{]*\{([^}]*)\}", text)
    if found is None:
        raise BoardError(f"{source}: no array {g.model_array}[] = {{…}}")
    return bytes(int(v, 16) for v in re.findall(r"0x([0-9a-fA-F]{1,2})", found[1]))


def lay_out(tiny: Path, benchmark: str, dest: Path) -> str:
    """Copy their sources into ``dest`` as setup_example.sh arranges them and apply
    ADAPTATIONS; return the unified diff of what was changed."""
    g = glue(benchmark)
    bench = tiny / "benchmark"
    copies = {
        bench / "main.cpp": "main.cpp",
        bench / "api" / "internally_implemented.cpp": "api/internally_implemented.cpp",
        bench / "api" / "internally_implemented.h": "api/internally_implemented.h",
        tiny / g.folder / "api" / "submitter_implemented.h": "api/submitter_implemented.h",
        tiny / g.folder / "submitter_implemented.cpp": "submitter_implemented.cpp",
    }
    copies.update({p: f"util/{p.name}" for p in sorted((bench / "util").glob("*.h"))})
    copies.update({p: f"{g.model_subdir}/{p.name}"
                   for p in sorted((tiny / g.folder / g.model_subdir).iterdir()) if p.is_file()})
    for source, name in copies.items():
        if not source.is_file():
            raise BoardError(f"{source} is missing from the MLPerf Tiny checkout {tiny}")
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / name)
    diff: list[str] = []
    for a in ADAPTATIONS:
        if a.benchmarks and benchmark not in a.benchmarks:
            continue
        name = a.path.format(model=g.model_subdir)
        path = dest / name
        before = path.read_text()
        # a function, so that the replacement is taken literally (no group references)
        after, count = re.subn(a.pattern, _literal(a.replacement), before)
        if count != 1:
            raise BoardError(f"{name} of {tiny}: the adaptation '{a.why}' expects "
                             f"/{a.pattern}/ once and found it {count} times: MLPerf Tiny's "
                             "code changed, the adaptation list needs a look")
        path.write_text(after)
        diff += difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                     f"a/{name}", f"b/{name}")
    return "".join(diff)


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: text


def _digest(src: Path, make_vars: dict[str, str]) -> str:
    h = hashlib.sha256()
    fw = firmware_dir()
    files = [(str(p.relative_to(src)), p) for p in sorted(src.rglob("*")) if p.is_file()]
    files += [(f"port/{name}", fw / name) for name in _PORT_FILES]
    for name, path in files:
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    for key, value in sorted(make_vars.items()):
        h.update(f"{key}={value}\n".encode())
    return h.hexdigest()


def build_mlperf_dut(benchmark: str = "ic01", tiny: Path | None = None, tflm: Path | None = None,
                     kernels: Kernels = "cmsis_nn", cache_dir: Path | None = None
                     ) -> MlperfDutImage:
    """The ELF of MLPerf Tiny's DUT for ``benchmark`` on the emulated board (cached)."""
    root = mlperf_tiny_checkout(tiny)
    tflm_root = tflm_dir(tflm)
    g = glue(benchmark)
    for tool in ("arm-none-eabi-g++", "make"):
        if shutil.which(tool) is None:
            raise BoardError(f"cannot build MLPerf Tiny's DUT: {tool} is not on PATH "
                             f"(Debian: {APT_HINT} libstdc++-arm-none-eabi-newlib make)")
    library = build_tflm_library(tflm_root, kernels, "release")
    cache = cache_dir or firmware_dir() / "mlperf_dut" / "build"
    tmp = cache / f"{benchmark}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "src").mkdir(parents=True)
    diff = lay_out(root, benchmark, tmp / "src")
    (tmp / "adaptations.diff").write_text(diff)
    make_vars = {"MODEL_SUBDIR": g.model_subdir, "TFLM_DIR": str(tflm_root),
                 "TFLM_LIB": str(library), "TFLM_BUILD_TYPE": "release",
                 # not read by make: a rebuilt library is a new image
                 "TFLM_LIB_SHA256": hashlib.sha256(library.read_bytes()).hexdigest()}
    digest = _digest(tmp / "src", make_vars)
    out = cache / f"{benchmark}-{digest[:16]}"
    if (out / "fw.elf").is_file():
        log.debug("MLPerf Tiny DUT %s is cached", out)
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        _make(tmp, make_vars)
        try:
            tmp.rename(out)
        except OSError:  # another process finished the same image first
            shutil.rmtree(tmp, ignore_errors=True)
    flash, ram = _sizes(out / "fw.size")
    model = hashlib.sha256(reference_model_bytes(root, benchmark)).hexdigest()
    return MlperfDutImage(out / "fw.elf", benchmark, digest, out, model, flash, ram)


def _make(folder: Path, make_vars: dict[str, str]) -> None:
    cmd = ["make", "--no-print-directory", f"-j{os.cpu_count() or 1}", "-C",
           str(firmware_dir() / "mlperf_dut"), f"SRC={folder / 'src'}", f"BUILD={folder}",
           *(f"{k}={v}" for k, v in sorted(make_vars.items()))]
    log.info("building MLPerf Tiny's DUT: %s", " ".join(cmd))
    try:
        run = procs.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BoardError(f"MLPerf Tiny DUT build timed out after {BUILD_TIMEOUT_S} s") from exc
    if run.returncode != 0:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-15:])
        raise BoardError(f"MLPerf Tiny DUT build failed ({' '.join(cmd)}):\n{tail}")
    _check_no_constructors(folder / "fw.elf")


def _check_no_constructors(elf: Path) -> None:
    """The port's reset code calls main without running C++ global constructors
    (firmware/qemu/startup.c); their code must not need any."""
    run = procs.run(["arm-none-eabi-objdump", "-h", str(elf)], capture_output=True, text=True,
                    timeout=60)
    for line in run.stdout.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] in (".init_array", ".ctors") and int(fields[2], 16):
            raise BoardError(f"{elf}: their code has C++ global constructors ({fields[1]}, "
                             f"{int(fields[2], 16)} bytes), which the QEMU port does not run")

