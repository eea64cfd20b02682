"""MLPerf Tiny's own code against the harness (docs/mlperf.md, "MLPerf Tiny's own code").

- Their DUT (mlcommons/tiny ``benchmark/api``, ``main.cpp``, ``util`` and a reference
  submission's glue and model), built for the emulated board by
  harness/firmware/mlperf_dut_build.py, driven by the harness's MLPerf session and by
  ``harness run``: its outputs equal the TFLM host runtime's as the glue prints them,
  and its instruction counts the harness firmware's on the same model.
- Their runner (``benchmark/runner``, copied, changed only in which port it opens)
  drives the harness firmware on the emulated board through a performance and an
  accuracy run on an MLPerf-layout dataset folder written here; its figures agree with
  ``harness run --mlperf`` on the same board and folder.

Nothing of theirs is in the project: the checkout is ``$MLPERF_TINY_DIR``; every test
skips, saying why, without it (and without TFLM, QEMU or the runner's Python).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from harness.boards.qemu_driver import QemuDriver
from harness.cli import main
from harness.config.board import BoardSpec, find_board
from harness.dut.mlperf_codec import MlperfCodec
from harness.dut.mlperf_session import MlperfSession
from harness.dut.session import DutSession
from harness.dut.transport import open_link
from harness.errors import BoardError
from harness.firmware.mlperf_dut_build import (
    GLUES,
    build_mlperf_dut,
    lay_out,
    reference_model_bytes,
)
from harness.firmware.qemu_tflm import build_qemu_tflm_image
from harness.models.tflm_host import TflmHostModel
from tests.skips import TFLM_IN_QEMU

INSTRUCTIONS_PER_US = 25   # m-lap-us of either firmware: instructions / 25 (docs/mlperf.md)
RUNNER_IMPORTS = ("serial", "yaml", "numpy", "sklearn", "matplotlib", "usb")
RUNNER_PYTHON_HINT = (
    "MLCommons' runner needs a Python with pyserial, PyYAML, numpy, scikit-learn, matplotlib "
    "and pyusb (plus the system's libusb-1.0): python3 -m venv /tmp/runner-venv && "
    "/tmp/runner-venv/bin/pip install pyserial PyYAML numpy scikit-learn matplotlib pyusb, "
    "then MLPERF_RUNNER_PYTHON=/tmp/runner-venv/bin/python")
IC_FILES = 20              # files in the dataset folder written here
IC_RIGHT = 10              # of which the first ones are labelled with the host's top-1
PERF_RUNS = 60             # infer N of the runner's performance windows (see _tests_yaml)


@pytest.fixture(scope="module")
def tiny() -> Path:
    env = os.environ.get("MLPERF_TINY_DIR")
    if not env or not (Path(env) / "benchmark" / "api" / "internally_implemented.cpp").is_file():
        pytest.skip("MLPERF_TINY_DIR does not point at a checkout of github.com/mlcommons/tiny "
                    "(benchmark/api/, benchmark/runner/, benchmark/reference_submissions/)")
    return Path(env)


@pytest.fixture(scope="module")
def board() -> BoardSpec:
    return find_board("qemu_mps2_an386")


@pytest.fixture
def needs_tflm_in_qemu(request: pytest.FixtureRequest) -> None:
    """Skips, saying why, where TFLM_DIR, qemu-system-arm or arm-none-eabi-g++ is missing."""
    for mark in TFLM_IN_QEMU:
        if mark.args[0]:
            pytest.skip(mark.kwargs["reason"])


@pytest.fixture
def qemu(board: BoardSpec, tmp_path: Path) -> Iterator[QemuDriver]:
    driver = QemuDriver(board, tmp_path / "qemu")
    try:
        yield driver
    finally:
        driver.stop()


# ---- their code, copied and adapted -------------------------------------------------------


@pytest.mark.parametrize("benchmark", sorted(GLUES))
def test_their_glue_embeds_the_shared_model(tiny: Path, mlperf_dir: Path, benchmark: str) -> None:
    """The model array the reference glue compiles in is the .tflite the harness measures."""
    theirs = reference_model_bytes(tiny, benchmark)
    ours = (mlperf_dir / GLUES[benchmark].model_file).read_bytes()
    assert hashlib.sha256(theirs).hexdigest() == hashlib.sha256(ours).hexdigest()


def test_the_adaptations_change_a_copy_and_fail_on_code_that_moved(tiny: Path,
                                                                   tmp_path: Path) -> None:
    used = [tiny / "benchmark" / "util" / "tf_micro_model_runner.h",
            tiny / GLUES["kws01"].folder / "submitter_implemented.cpp",
            tiny / GLUES["kws01"].folder / "kws" / "kws_model_data.cc"]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in used]
    diff = lay_out(tiny, "kws01", tmp_path / "kws")
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in used] == before
    runner = (tmp_path / "kws" / "util" / "tf_micro_model_runner.h").read_text()
    assert "reporter" not in runner and "MicroPrintf" in runner
    removed = [line for line in diff.splitlines() if line.startswith("-") and
               not line.startswith("---")]
    # only the error reporter's lines (and the interpreter call that passed it) and the
    # model array's declaration
    assert removed and all(any(word in line for word in ("reporter", "interpreter_(",
                                                         "g_kws_model_data"))
                           for line in removed)

    # a checkout whose runner no longer looks as the adaptation expects
    moved = tmp_path / "moved"
    shutil.copytree(tiny / "benchmark" / "api", moved / "benchmark" / "api")
    shutil.copytree(tiny / "benchmark" / "util", moved / "benchmark" / "util")
    shutil.copy(tiny / "benchmark" / "main.cpp", moved / "benchmark" / "main.cpp")
    shutil.copytree(tiny / GLUES["ic01"].folder, moved / GLUES["ic01"].folder)
    header = moved / "benchmark" / "util" / "tf_micro_model_runner.h"
    header.write_text(header.read_text().replace("reporter_(&micro_reporter_),", ""))
    with pytest.raises(BoardError, match=r"util/tf_micro_model_runner\.h.*code changed"):
        lay_out(moved, "ic01", tmp_path / "ic")


# ---- their DUT in QEMU ----------------------------------------------------------------------


def _their_text(benchmark: str, codec: MlperfCodec, raw_in: bytes, raw_out: bytes
                ) -> tuple[str, ...]:
    """What the reference glue prints for this output: IC ``%0.3f`` of each dequantised
    value; KWS ``"0.%d%d%d"`` of the digits of (int)(v*10), (int)(v*100)%10 and
    (int)(v*1000)%10, float arithmetic, truncated (keyword_spotting's th_results)."""
    values = [np.float32(v) for v in codec.result_values(codec.wire_input(raw_in), raw_out)]
    if benchmark == "ic01":
        return tuple(f"{float(v):.3f}" for v in values)
    return tuple(f"0.{int(v * np.float32(10))}{int(v * np.float32(100)) % 10}"
                 f"{int(v * np.float32(1000)) % 10}" for v in values)


@pytest.mark.parametrize("benchmark", sorted(GLUES))
@pytest.mark.usefixtures("needs_tflm_in_qemu")
def test_their_dut_gives_the_host_outputs_and_the_harness_firmware_counts(
        tiny: Path, mlperf_dir: Path, board: BoardSpec, tmp_path: Path, benchmark: str) -> None:
    model_path = mlperf_dir / GLUES[benchmark].model_file
    host = TflmHostModel.load(model_path)
    codec = MlperfCodec.for_model(host.input_spec, host.output_spec)
    image = build_mlperf_dut(benchmark, tiny)
    rng = np.random.default_rng(21)
    inputs = [rng.normal(0, width, host.input_spec.shape).clip(-128, 127).astype(np.int8)
              .tobytes() for width in (20, 60, 120)]

    theirs = QemuDriver(board, tmp_path / "theirs")
    url = theirs.launch(image.elf)
    try:
        with MlperfSession(open_link(url, board.serial.baudrate), codec, timeout=5.0) as dut:
            assert dut.wait_ready(10.0)
            identity = dut.identify()
            assert (identity.name, identity.model, identity.timestamp_mode) == \
                ("unspecified", benchmark, "performance")
            assert identity.profile == "ULPMark for tinyML Firmware V0.0.1"
            printed = []
            for raw in inputs:   # accuracy mode, as the runner: one input, infer 1 0
                dut.upload(raw)
                result = dut.infer(warmups=0, runs=1)
                expected = host.run(raw).tobytes()
                assert result.output == expected
                assert result.results.text == _their_text(benchmark, codec, raw, expected)
                printed.append(result.results.text)
            assert len(set(printed)) == len(inputs)
            # Their th_load_tensor fills the input tensor once per infer command, and
            # TFLM's memory plan reuses its bytes for activations: every inference after
            # the first of a command runs on what the last one left there
            # (docs/mlperf.md), so the results of infer 1 1 are not the input's.
            assert dut.infer(warmups=1, runs=1).output != expected
            # performance mode: infer N W, timed between the two m-lap-us lines
            timed = dut.infer(warmups=1, runs=5)
            assert timed.elapsed_us is not None
            their_instructions = timed.elapsed_us * INSTRUCTIONS_PER_US / 5
    finally:
        theirs.stop()

    ours = QemuDriver(board, tmp_path / "ours")
    url = ours.launch(build_qemu_tflm_image(model_path).image.elf)
    try:
        with DutSession(open_link(url, board.serial.baudrate)) as session:
            assert session.wait_ready(10.0)
            session.hello()
            session.upload(inputs[-1])
            counted = session.infer(warmups=1, runs=5)
            assert counted.cycles is not None
            our_instructions = float(np.median(counted.cycles))
    finally:
        ours.stop()
    assert their_instructions == pytest.approx(our_instructions, rel=0.05)


# ---- an MLPerf-layout dataset folder ----------------------------------------------------------


@dataclass(frozen=True)
class IcDataset:
    root: Path              # holds ic01/ (the runner's --dataset_path)
    expected_top1: float    # from the TFLM host runtime's outputs and the labels written


@pytest.fixture(scope="module")
def ic_dataset(mlperf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> IcDataset:
    """IC01 inputs (uint8 pixels, as the runner sends them) and a y_labels.csv: the first
    IC_RIGHT files are labelled with the host runtime's top-1, the others with another
    class, chosen so that all ten classes occur (the runner's one-vs-rest AUC needs them)."""
    host = TflmHostModel.load(mlperf_dir / "ic01_int8.tflite")
    root = tmp_path_factory.mktemp("datasets")
    folder = root / "ic01"
    folder.mkdir()
    rng = np.random.default_rng(8)
    predicted = []
    for i in range(IC_FILES):
        coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.float64)  # blocks of colour
        image = np.kron(coarse, np.ones((8, 8, 1))) + rng.normal(0, 25, (32, 32, 3))
        pixels = image.clip(0, 255).astype(np.uint8)
        (folder / f"gen_{i:03d}.bin").write_bytes(pixels.tobytes())
        raw = (pixels.astype(np.int16) - 128).astype(np.int8)   # what the DUT runs
        predicted.append(int(np.argmax(host.run(raw.tobytes()))))
    labels = predicted[:IC_RIGHT]
    for p in predicted[IC_RIGHT:]:
        missing = [c for c in range(10) if c not in labels and c != p]
        labels.append(missing[0] if missing else (p + 1) % 10)
    assert set(labels) == set(range(10)), labels
    with (folder / "y_labels.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows((f"gen_{i:03d}.bin", 10, label)
                                 for i, label in enumerate(labels))
    right = sum(label == p for label, p in zip(labels, predicted, strict=True))
    return IcDataset(root, 100.0 * right / IC_FILES)


def _harness_run(bench: dict, tmp_path: Path, mlperf_dir: Path, *extra: str
                 ) -> dict[tuple[str, str], dict[str, str]]:
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(bench, sort_keys=False))
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(path), "--results-dir", str(out),
                                       "--mlperf-dir", str(mlperf_dir), *extra],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    with (run_dir / "results.csv").open(newline="") as fh:
        return {(r["board"], r["metric"]): r for r in csv.DictReader(fh)}


@pytest.mark.usefixtures("needs_tflm_in_qemu")
def test_harness_run_drives_their_dut_beside_the_harness_firmware(
        tiny: Path, mlperf_dir: Path, ic_dataset: IcDataset, qemu: QemuDriver,
        tmp_path: Path) -> None:
    """`harness run`, performance, accuracy and MLPerf's run rules (short runs), with their
    DUT as a preflashed board speaking MLPerf's protocol and the harness's own image on the
    same emulated board."""
    url = qemu.launch(build_mlperf_dut("ic01", tiny).elf)
    rows = _harness_run({
        "name": "their-dut",
        "boards": [{"id": "theirs", "board": "qemu_mps2_an386", "protocol": "mlperf",
                    "firmware": "preflashed", "port": url},
                   {"id": "ours", "board": "qemu_mps2_an386"}],
        "models": [{"id": "ic", "path": "mlperf:ic01_int8.tflite",
                    "dataset": f"mlperf:{ic_dataset.root / 'ic01'}"}],
        "modes": {"performance": {"warmups": 1, "runs": 10}, "accuracy": {"samples": 5},
                  "mlperf": {"min_duration_s": 1.0, "inputs": 2}},
    }, tmp_path, mlperf_dir)
    assert rows["theirs", "latency_median"]["protocol"] == "mlperf"
    # the rules on their m-lap-us against ours on the instruction counter (both / 25 MHz)
    throughput = {name: rows[name, "mlperf_throughput"] for name in ("theirs", "ours")}
    assert throughput["theirs"]["protocol"] == "mlperf"
    assert "on the DUT's m-lap-us timer" in throughput["theirs"]["notes"]
    assert float(throughput["theirs"]["value"]) == pytest.approx(
        float(throughput["ours"]["value"]), rel=0.05)
    for name in ("theirs", "ours"):     # the whole folder, scored from what each printed
        assert rows[name, "mlperf_top1"]["n"] == str(IC_FILES)
        assert float(rows[name, "mlperf_top1"]["value"]) == pytest.approx(
            ic_dataset.expected_top1)
    theirs = float(rows["theirs", "latency_median"]["value"])
    ours = float(rows["ours", "latency_median"]["value"])
    assert theirs == pytest.approx(ours, rel=0.05)
    for name in ("theirs", "ours"):
        assert rows[name, "host_reference_mismatches"]["value"] == "0.0"
    assert rows["theirs", "top1"]["value"] == rows["ours", "top1"]["value"]


# ---- their runner -----------------------------------------------------------------------------

#: the only change to their runner: which port it opens (docs/mlperf.md)
PORT_CHANGES = (
    ("serial_device.py", "self._port = serial.Serial(port_device, baud_rate, timeout=0.1)",
     "self._port = serial.serial_for_url(port_device, baud_rate, timeout=0.1)"),
    ("device_manager.py",
     '        """Scan for both serial and USB-only devices and initialize them."""\n',
     '        """Scan for both serial and USB-only devices and initialize them."""\n'
     '        for d in self._device_defs:\n'
     '            if d.get("port"):\n'
     '                self._add_device(type("Port", (), {"device": d["port"]})(), d)\n'),
)


def _runner_python() -> str:
    """A Python with the runner's imports: MLPERF_RUNNER_PYTHON, else this one."""
    probe = "import " + ", ".join(RUNNER_IMPORTS) + "; import usb.core; usb.core.find()"
    for python in (os.environ.get("MLPERF_RUNNER_PYTHON"), sys.executable):
        if python and subprocess.run([python, "-c", probe], capture_output=True,
                                     timeout=120, check=False).returncode == 0:
            return python
    pytest.skip(RUNNER_PYTHON_HINT)


def _runner_copy(tiny: Path, dest: Path) -> Path:
    runner = dest / "runner"
    shutil.copytree(tiny / "benchmark" / "runner", runner,
                    ignore=shutil.ignore_patterns("sd_card", "sww_data_dir", "img", "sessions"))
    for name, old, new in PORT_CHANGES:
        text = (runner / name).read_text()
        assert text.count(old) == 1, f"{name} no longer has {old!r}"
        (runner / name).write_text(text.replace(old, new))
    return runner


def _tests_yaml(tiny: Path, runner: Path) -> Path:
    """Their tests_performance.yaml and tests_accuracy.yaml for ic01, with more timed
    inferences per window: the runner refuses a performance loop that ends in under 10 s
    of host time (ERROR 2), and 20 IC inferences take about 2 s in QEMU."""
    perf = yaml.safe_load((tiny / "benchmark" / "runner" / "tests_performance.yaml").read_text())
    acc = yaml.safe_load((tiny / "benchmark" / "runner" / "tests_accuracy.yaml").read_text())
    assert perf["ic01"]["script"] == [{"loop 5": ["download", "infer 20 5"]}]
    perf["ic01"]["script"] = [{"loop 5": ["download", f"infer {PERF_RUNS} 5"]}]
    (runner / "tests_qemu_performance.yaml").write_text(yaml.safe_dump({"ic01": perf["ic01"]}))
    (runner / "tests_qemu_accuracy.yaml").write_text(yaml.safe_dump({"ic01": acc["ic01"]}))
    return runner


def _run_runner(python: str, runner: Path, mode: str, datasets: Path) -> Path:
    """main.py in ``mode``; the session folder it wrote."""
    before = set((runner / "sessions").glob("*")) if (runner / "sessions").is_dir() else set()
    test = "tests_qemu_performance.yaml" if mode == "p" else "tests_qemu_accuracy.yaml"
    run = subprocess.run([python, "main.py", "-d", "devices_qemu.yaml", "-m", mode, "-t", test,
                          "-s", str(datasets)], cwd=runner, capture_output=True, text=True,
                         timeout=900, check=False, env={**os.environ, "MPLBACKEND": "Agg"})
    (session,) = set((runner / "sessions").glob("*")) - before
    assert run.returncode == 0, (session / "log.txt").read_text()[-3000:]
    return session


@pytest.mark.usefixtures("needs_tflm_in_qemu")
def test_their_runner_agrees_with_harness_run(tiny: Path, mlperf_dir: Path,
                                              ic_dataset: IcDataset, qemu: QemuDriver,
                                              tmp_path: Path) -> None:
    python = _runner_python()
    runner = _tests_yaml(tiny, _runner_copy(tiny, tmp_path))
    model = mlperf_dir / "ic01_int8.tflite"
    url = qemu.launch(build_qemu_tflm_image(model).image.elf)
    (runner / "devices_qemu.yaml").write_text(yaml.safe_dump([
        {"name": "qemu_mps2_an386", "type": "dut", "baud": 115200, "port": url}]))
    perf = _run_runner(python, runner, "p", ic_dataset.root)
    acc = _run_runner(python, runner, "a", ic_dataset.root)

    perf_text = (perf / "results.txt").read_text()
    assert "ERROR" not in perf_text, perf_text
    windows = [r for r in json.loads((perf / "results.json").read_text()) if "infer" in r]
    assert [w["file"] for w in windows] == [f"gen_{i:03d}.bin" for i in range(5)]
    assert all(w["infer"]["iterations"] == PERF_RUNS for w in windows)
    median = float(np.median([w["infer"]["throughput"] for w in windows]))
    assert f"Median throughput is {median:>10.3f} inf./sec." in perf_text
    acc_text = (acc / "results.txt").read_text()
    top1 = float(acc_text.split("Top 1% =")[1].split()[0])
    assert top1 == pytest.approx(ic_dataset.expected_top1)
    assert len(json.loads((acc / "results.json").read_text())) == IC_FILES

    rows = _harness_run({
        "name": "runner-vs-harness",
        "boards": [{"id": "qemu", "board": "qemu_mps2_an386"}],
        "models": [{"id": "ic", "path": "mlperf:ic01_int8.tflite",
                    "dataset": f"mlperf:{ic_dataset.root / 'ic01'}"}],
        "modes": {"mlperf": {}},
    }, tmp_path, mlperf_dir)
    # both from the board's own timer (instructions / 25 MHz), on the same five files; the
    # runs differ in length (60 inferences against about 10), not per inference
    assert float(rows["qemu", "mlperf_throughput"]["value"]) == pytest.approx(median, rel=1e-4)
    assert float(rows["qemu", "mlperf_top1"]["value"]) == pytest.approx(top1, abs=0.05)
