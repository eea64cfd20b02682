"""The MLPerf Tiny text-protocol client against an emulated MLPerf DUT on a real pty.

The DUT (harness/dut/mlperf_device.py) answers as MLCommons' reference firmware
does and runs the real model on the TFLM host runtime; it misbehaves on request
as real DUTs do: a refusal, a hang mid-upload, noise, a reset, another model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from harness.config.board import find_board
from harness.dut.mlperf_codec import MlperfCodec, benchmark_of
from harness.dut.mlperf_device import (
    TIMESTAMP_PULSE_S,
    DutQuirks,
    MlperfDevice,
    build_mlperf_device,
)
from harness.dut.mlperf_session import DutRefused, MlperfOutputs, MlperfSession
from harness.dut.pty_link import ResetLine, served
from harness.dut.recovery import Recovery
from harness.dut.transport import open_link
from harness.errors import BoardError, BoardSilent, ProtocolError, ReplyTimeout
from harness.measure.accuracy import measure_accuracy
from harness.measure.scoring import Scorer
from harness.models.datasets import Dataset
from harness.models.tflm_host import TflmHostModel
from harness.power.sim_activity import ActivityReader
from harness.tensors import TensorSpec

BOARD = find_board("nucleo_l4r5zi")


@pytest.fixture(scope="module")
def ic01(mlperf_dir: Path) -> Path:
    return mlperf_dir / "ic01_int8.tflite"


@contextmanager
def session_on(device: MlperfDevice, reset: ResetLine | None = None,
               **kwargs) -> Iterator[MlperfSession]:
    codec = device._codec
    with served(device, reset) as path, \
            MlperfSession(open_link(path), codec, **kwargs) as session:
        assert session.wait_ready(2.0)      # the pty boots the DUT when the host opens it
        yield session


def image(seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(-128, 128, 3072, dtype=np.int8).tobytes()


# --- the codec ---------------------------------------------------------------------


def test_benchmarks_are_recognised_by_their_tensors(mlperf_dir: Path) -> None:
    found = {}
    for name in ("ic01", "kws01", "ad01"):
        host = TflmHostModel.load(mlperf_dir / f"{name}_int8.tflite")
        found[name] = benchmark_of(host.input_spec, host.output_spec)
    assert found == {"ic01": "ic01", "kws01": "kws01", "ad01": "ad01"}
    fp32 = TensorSpec("float32", (1, 32, 32, 3)), TensorSpec("float32", (1, 10))
    assert benchmark_of(*fp32) == "unknown"


def test_image_inputs_travel_as_uint8_pixels_and_ad01_as_float32(mlperf_dir: Path) -> None:
    ic = MlperfCodec.for_model(TensorSpec("int8", (1, 32, 32, 3), 1.0, -128),
                               TensorSpec("int8", (1, 10), 1 / 256, -128))
    raw = bytes([0x80, 0x00, 0x7F, 0xFF]) + bytes(3068)       # -128, 0, 127, -1
    assert ic.wire_input(raw)[:4] == bytes([0, 128, 255, 127])
    assert ic.model_input(ic.wire_input(raw)) == raw
    ad_host = TflmHostModel.load(mlperf_dir / "ad01_int8.tflite")
    ad = MlperfCodec.for_model(ad_host.input_spec, ad_host.output_spec)
    raw = np.arange(-128, 512, dtype=np.int64).clip(-128, 127).astype(np.int8).tobytes()
    wire = ad.wire_input(raw)
    assert len(wire) == 2560 == ad.wire_bytes()
    assert ad.model_input(wire) == raw      # the DUT's own quantisation gives the input back


def test_results_are_requantised_exactly_for_softmax_outputs() -> None:
    codec = MlperfCodec.for_model(TensorSpec("int8", (1, 32, 32, 3), 1.0, -128),
                                  TensorSpec("int8", (1, 10), 1 / 256, -128))
    raw_out = np.arange(-128, 127, 25, dtype=np.int8)[:10].tobytes()
    text = codec.expected_text(bytes(3072), raw_out)
    read = codec.read_results(",".join(text))
    assert read.output == raw_out and read.score is None
    with pytest.raises(ProtocolError, match="holds 9 values"):
        codec.read_results(",".join(text[:9]))
    with pytest.raises(ProtocolError, match=r"'0\.1x0'"):
        codec.read_results(",".join((*text[:9], "0.1x0")))
    worse = (f"{float(text[0]) + 0.0039:.3f}", *text[1:])     # one output one step off
    assert codec.agrees(text, text) and not codec.agrees(worse, text)


# --- the session against the emulated DUT -----------------------------------------------


def test_identify_upload_and_infer_against_the_reference_protocol(ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01)
    host = TflmHostModel.load(ic01)
    data = image()
    with session_on(device) as session:
        who = session.identify()
        stats = session.upload(data)
        result = session.infer(warmups=2, runs=5)
    assert (who.name, who.model, who.timestamp_mode) == \
        ("sim:nucleo_l4r5zi", "ic01", "performance")
    # 3072 bytes in lines of 38 (the DUT's 80-character line), each answered
    assert stats.chunks == 81 and stats.round_trips == 82
    assert result.output == host.run(data).tobytes()
    assert result.results.text == session.codec.expected_text(data, result.output)
    # m-lap-us: five runs of the board's modelled latency (±2 % jitter), in microseconds
    per_run_us = device._timing.cycles_per_inference / BOARD.clock_hz * 1e6
    assert result.elapsed_us == pytest.approx(5 * per_run_us, rel=0.03)


def test_db_lines_fit_the_dut_command_line(ic01: Path) -> None:
    written: list[bytes] = []
    device = build_mlperf_device(BOARD, ic01)
    feed = device.feed
    device.feed = lambda data: (written.append(data), feed(data))[1]    # type: ignore[method-assign]
    with session_on(device) as session:
        session.upload(image())
    commands = b"".join(written).split(b"%")[:-1]
    db = [c for c in commands if c.startswith(b"db ") and not c.startswith(b"db load")]
    assert len(db) == 81 and max(len(c) for c in db) == 79      # 80 at most, '%' not counted


def test_ad01_results_are_its_score(mlperf_dir: Path) -> None:
    model = mlperf_dir / "ad01_int8.tflite"
    host = TflmHostModel.load(model)
    raw = np.random.default_rng(3).integers(-128, 128, 640, dtype=np.int8).tobytes()
    with session_on(build_mlperf_device(BOARD, model)) as session:
        assert session.identify().model == "ad01"
        session.upload(raw)
        result = session.infer(0, 1)
    out = host.output_spec.dequantize(host.run(raw)).reshape(-1)
    real_in = host.input_spec.dequantize(np.frombuffer(raw, np.int8)).reshape(-1)
    assert result.output is None
    assert result.results.score == pytest.approx(float(np.mean((out - real_in) ** 2)), abs=1e-3)


def test_energy_mode_pulls_the_timestamp_pin_instead_of_printing_laps(ic01: Path,
                                                                      tmp_path: Path) -> None:
    wire = tmp_path / "wire.activity"
    device = build_mlperf_device(BOARD, ic01, mode="energy", activity_log=wire)
    with session_on(device) as session:
        assert session.identify().timestamp_mode == "energy"
        session.upload(image())
        result = session.infer(0, 3)
    assert result.elapsed_us is None
    segments = ActivityReader(wire).segments_between(0, float("inf"))
    pulls = segments[segments["marker"] == 1]
    # one at boot (the pin is released high), one before and one after the runs
    assert len(pulls) == 3 and np.allclose(pulls["duration_s"], TIMESTAMP_PULSE_S)
    timed = segments["duration_s"][-2]
    assert timed == pytest.approx(3 * device._timing.cycles_per_inference / BOARD.clock_hz,
                                  rel=0.03)


def test_a_refused_command_names_the_board_and_the_command(ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01, quirks=DutQuirks(refuse="infer"))
    with session_on(device, recovery=Recovery("lab-l4")) as session, \
            pytest.raises(DutRefused, match=r"board lab-l4: `infer 4 1%` was refused: "
                                           r"e-\[infer failed\]"):
        session.upload(image())
        session.infer(1, 4)


def test_a_dut_that_goes_silent_mid_upload_fails_naming_the_db_line(ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01, quirks=DutQuirks(silent_after_db_lines=10))
    with session_on(device, timeout=0.3) as session:
        session.identify()
        with pytest.raises(BoardSilent) as err:
            session.upload(image())
    message = str(err.value)
    assert re.search(r"no m-ready after `db [0-9a-f]{76}%`", message), message
    assert "no answer to `name%`" in message and "silent" in message


def test_a_dut_answering_noise_fails_naming_the_command_and_what_it_sent(ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01, quirks=DutQuirks(garbage_from="infer"))
    with session_on(device, timeout=0.3, retries=0, expected_s_per_inference=0.7) as session:
        session.identify()
        session.upload(image())
        with pytest.raises(ReplyTimeout) as err:
            session.infer(0, 1)
    message = str(err.value)
    assert "no m-ready after `infer 1 0%`" in message
    assert "bytes that are not text" in message and "baud" in message
    assert session.stats.garbled_in > 50


def test_a_reset_between_upload_and_infer_is_recovered_on_a_fresh_upload(ic01: Path) -> None:
    reset = ResetLine()
    device = build_mlperf_device(BOARD, ic01)
    host = TflmHostModel.load(ic01)
    data = image(5)
    with session_on(device, reset, recovery=Recovery("lab-l4")) as session:
        session.identify()
        session.upload(data)
        reset.request()             # the board reboots; its banner reaches the host
        result = session.infer(0, 1)
    assert session.stats.reboots == 1
    assert result.output == host.run(data).tobytes()


class RebootsOnInfer:
    """A DUT that resets as the host sends ``infer`` and, rebooted, still runs it: the host
    gets the boot banner, then a reply to a command it thinks was lost."""

    def __init__(self, inner: MlperfDevice) -> None:
        self.inner = inner
        self.rebooted = False

    def boot(self) -> bytes:
        return self.inner.boot()

    def feed(self, data: bytes) -> bytes:
        if b"infer" in data and not self.rebooted:
            self.rebooted = True
            return self.inner.boot() + self.inner.feed(data)
        return self.inner.feed(data)


def test_a_reply_that_follows_a_reset_banner_is_not_taken_for_the_next_command(
        ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01)
    host = TflmHostModel.load(ic01)
    data = image(8)
    with served(RebootsOnInfer(device)) as path, \
            MlperfSession(open_link(path), device._codec, recovery=Recovery("lab-l4")) as session:
        assert session.wait_ready(2.0)
        session.identify()
        session.upload(data)
        result = session.infer(0, 1)
    assert (session.stats.reboots, session.stats.resyncs) == (1, 1)
    assert result.output == host.run(data).tobytes()


def test_a_reset_whose_banner_was_lost_shows_as_input_db_has_and_is_recovered(
        ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01)
    host = TflmHostModel.load(ic01)
    data = image(6)
    with session_on(device, recovery=Recovery("lab-l4")) as session:
        session.identify()
        session.upload(data)
        device.boot()               # rebooted; the banner never reached the host
        result = session.infer(0, 1)
    assert session.stats.reboots == 1
    assert result.output == host.run(data).tobytes()


def test_a_hung_dut_is_reset_by_its_driver_and_the_upload_repeated(ic01: Path) -> None:
    reset = ResetLine()
    device = build_mlperf_device(BOARD, ic01, quirks=DutQuirks(silent_after_db_lines=30))
    host = TflmHostModel.load(ic01)
    data = image(7)
    recovery = Recovery("lab-l4", reset=reset.request, ready_timeout_s=2.0)
    with session_on(device, reset, recovery=recovery, timeout=0.3) as session:
        session.identify()
        session.upload(data)
        result = session.infer(0, 1)
    assert (session.stats.hang_resets, session.stats.reboots) == (1, 0)
    assert result.output == host.run(data).tobytes()


def test_without_a_reset_line_a_hang_fails_naming_the_board(ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01, quirks=DutQuirks(silent_after_db_lines=3))
    with session_on(device, recovery=Recovery("lab-l4"), timeout=0.3) as session, \
            pytest.raises(BoardError, match="board lab-l4 stopped answering during "
                                            r"upload of 3072 bytes \(db load 3072%\) and "
                                            "its driver cannot reset it"):
        session.upload(image())


def test_a_dut_running_another_model_says_so_in_its_profile(ic01: Path) -> None:
    device = build_mlperf_device(BOARD, ic01, quirks=DutQuirks(model="kws01"))
    with session_on(device) as session:
        assert session.identify().model == "kws01"


def test_per_run_times_are_refused_before_anything_is_sent(ic01: Path) -> None:
    with session_on(build_mlperf_device(BOARD, ic01)) as session, \
            pytest.raises(ValueError, match="whole infer command"):
        session.infer(0, 3, per_run=True)


# --- accuracy through the protocol -------------------------------------------------------


def test_accuracy_over_the_protocol_scores_as_over_the_host(ic01: Path) -> None:
    """Top-1 from re-quantised m-results equals top-1 from the host runtime's outputs."""
    host = TflmHostModel.load(ic01)
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 255, (12, 32, 32, 3)).astype(np.float32)
    raw = [host.input_spec.quantize(v[None]) for v in x]
    predicted = np.array([int(np.argmax(host.run(r))) for r in raw])
    y = np.where(np.arange(12) % 3 == 0, (predicted + 1) % 10, predicted)   # 4 of 12 wrong
    data = Dataset("synthetic", "classification", x, y.astype(np.int64))
    codec = MlperfCodec.for_model(host.input_spec, host.output_spec)
    with session_on(build_mlperf_device(BOARD, ic01)) as session:
        result = measure_accuracy(session, data, host.input_spec, host.output_spec, 12,
                                  reference=host.run, reader=MlperfOutputs(codec))
    assert result.top1 == pytest.approx(8 / 12)
    assert result.mismatches == 0


def test_ad01_auc_comes_from_the_scores_the_dut_prints(mlperf_dir: Path) -> None:
    model = mlperf_dir / "ad01_int8.tflite"
    host = TflmHostModel.load(model)
    rng = np.random.default_rng(12)
    spec = host.input_spec
    x = rng.normal(0.0, 8.0, (10, 640)).astype(np.float32)
    x[5:] += rng.normal(0.0, 25.0, (5, 640)).astype(np.float32)      # louder: "anomalous"
    data = Dataset("synthetic", "anomaly", x, np.array([0] * 5 + [1] * 5))
    codec = MlperfCodec.for_model(spec, host.output_spec)
    with session_on(build_mlperf_device(BOARD, model)) as session:
        result = measure_accuracy(session, data, spec, host.output_spec, 10,
                                  reference=host.run, reader=MlperfOutputs(codec))
    on_host = Scorer(data, spec, host.output_spec)
    for i in range(10):
        raw_in = data.to_model_input(i, spec)
        on_host.add(raw_in, host.run(raw_in))
    assert result.mismatches == 0
    assert result.auc is not None and result.auc == pytest.approx(on_host.auc(), abs=1e-9)
