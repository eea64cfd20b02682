"""Dataset adapters (digits, npz, MLPerf Tiny folders, generated), split and model inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import ModelError
from harness.models.datasets import (
    Dataset,
    generated_dataset,
    load_dataset,
    register_dataset_adapter,
)
from harness.tensors import TensorSpec

# The input specs of the MLPerf Tiny int8 models (read from the .tflite files).
IC_INPUT = TensorSpec("int8", (1, 32, 32, 3), 1.0, -128)
KWS_INPUT = TensorSpec("int8", (1, 49, 10, 1), 0.5847029089927673, 83)
AD_INPUT = TensorSpec("int8", (1, 640), 0.3910152316093445, 89)


def _indexed(labels: list[int], groups: list[int] | None = None) -> Dataset:
    """A dataset whose feature is the sample's index, so subsets can be traced back."""
    n = len(labels)
    return Dataset(name="indexed", task="classification",
                   x=np.arange(n, dtype=np.float32).reshape(n, 1), y=np.array(labels),
                   groups=None if groups is None else np.array(groups))


def _write_y_labels(folder: Path, rows: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "y_labels.csv").write_text("\n".join(rows) + "\n")


# --- digits -------------------------------------------------------------------------------

def test_digits_are_8x8x1_images_in_unit_range_with_ten_classes() -> None:
    digits = load_dataset("digits")
    assert digits.x.shape == (1797, 8, 8, 1)
    assert digits.x.dtype == np.float32
    assert digits.x.min() == 0.0 and digits.x.max() == 1.0
    assert digits.task == "classification" and not digits.generated
    assert sorted(np.unique(digits.y)) == list(range(10))
    assert digits.input_shape == (8, 8, 1)


def test_unknown_or_malformed_references_are_refused() -> None:
    with pytest.raises(ModelError, match="unknown dataset reference 'cifar10'"):
        load_dataset("cifar10")
    with pytest.raises(ModelError, match="takes no argument"):
        load_dataset("digits:extra")
    with pytest.raises(ModelError, match="needs a path"):
        load_dataset("npz:")


def test_a_task_that_does_not_match_the_dataset_is_refused() -> None:
    with pytest.raises(ModelError, match="classification dataset, the model a anomaly"):
        load_dataset("digits", task="anomaly")


def test_registering_a_scheme_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'digits' is already registered"):
        register_dataset_adapter("digits", "again")(lambda request: load_dataset("digits"))


# --- npz ----------------------------------------------------------------------------------

def test_npz_round_trip_relative_to_the_bench_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 4, 3)).astype(np.float64)
    y = rng.integers(0, 3, size=20)
    np.savez(tmp_path / "features.npz", x=x, y=y)
    data = load_dataset("npz:features.npz", base_dir=tmp_path)
    assert data.name == "features" and data.task == "classification"
    np.testing.assert_array_equal(data.x, x.astype(np.float32))
    np.testing.assert_array_equal(data.y, y)
    assert data.x.dtype == np.float32
    anomaly = load_dataset(f"npz:{tmp_path / 'features.npz'}", task="anomaly")
    assert anomaly.task == "anomaly"


@pytest.mark.parametrize(("arrays", "message"), [
    ({"x": np.zeros((3, 2))}, r"missing array\(s\) y \(has: x\)"),
    ({"features": np.zeros((3, 2)), "labels": np.zeros(3)}, r"missing array\(s\) x, y"),
    ({"x": np.zeros((3, 2)), "y": np.zeros(4)}, "one integer label per row of x"),
    ({"x": np.zeros((3, 2)), "y": np.array([0.5, 1, 2])}, "one integer label per row of x"),
    ({"x": np.zeros(3), "y": np.zeros(3)}, r"x must be numeric of shape \(N, \.\.\.\)"),
    ({"x": np.array([{"a": 1}] * 3, dtype=object).reshape(3, 1), "y": np.zeros(3)},
     "cannot read as an .npz of numeric arrays"),
])
def test_bad_npz_files_say_what_is_wrong(tmp_path: Path, arrays: dict, message: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelError, match=message):
        load_dataset("npz:bad.npz", base_dir=tmp_path)


def test_absent_or_non_npz_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"absent\.npz: cannot read"):
        load_dataset("npz:absent.npz", base_dir=tmp_path)
    (tmp_path / "text.npz").write_text("not a zip file")
    with pytest.raises(ModelError, match=r"text\.npz: cannot read"):
        load_dataset("npz:text.npz", base_dir=tmp_path)


# --- MLPerf Tiny folders ------------------------------------------------------------------

def test_mlperf_image_folder_gives_the_bytes_the_reference_firmware_feeds(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(6, 32 * 32 * 3), dtype=np.uint8)
    folder = tmp_path / "ic"
    _write_y_labels(folder, [f"img_{i}.bin,10,{i % 3}" for i in range(6)])
    for i, image in enumerate(images):
        (folder / f"img_{i}.bin").write_bytes(image.tobytes())
    data = load_dataset("mlperf:ic", base_dir=tmp_path, input_spec=IC_INPUT)
    assert data.task == "classification" and data.groups is None
    assert data.x.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(data.y, [0, 1, 2, 0, 1, 2])
    # The MLPerf IC firmware turns byte b into int8 b - 128 (th_load_tensor).
    for i in range(6):
        expected = (images[i].astype(np.int16) - 128).astype(np.int8).reshape(IC_INPUT.shape)
        np.testing.assert_array_equal(data.to_model_input(i, IC_INPUT), expected)
    # Without the model's spec the samples stay flat and still fit the model.
    flat = load_dataset("mlperf:ic", base_dir=tmp_path)
    assert flat.x.shape == (6, 3072)
    np.testing.assert_array_equal(flat.to_model_input(5, IC_INPUT),
                                  data.to_model_input(5, IC_INPUT))


def test_mlperf_int8_files_are_quantized_inputs_that_round_trip(tmp_path: Path) -> None:
    raw = np.random.default_rng(3).integers(-128, 128, size=(4, 490), dtype=np.int8)
    folder = tmp_path / "kws"
    _write_y_labels(folder, [f"tst_{i}.bin,12,{i + 5}" for i in range(4)])
    for i, sample in enumerate(raw):
        (folder / f"tst_{i}.bin").write_bytes(sample.tobytes())
    data = load_dataset(f"mlperf:{folder}#int8", input_spec=KWS_INPUT)
    np.testing.assert_allclose(data.x.reshape(4, -1), (raw.astype(np.float32) - 83) * 0.5847,
                               rtol=1e-4)
    for i in range(4):
        np.testing.assert_array_equal(data.to_model_input(i, KWS_INPUT).reshape(-1), raw[i])
    with pytest.raises(ModelError, match="needs the model's quantized int8 input spec"):
        load_dataset(f"mlperf:{folder}#int8")
    with pytest.raises(ModelError, match="encoding 'int16' is not one of"):
        load_dataset(f"mlperf:{folder}#int16")


def test_mlperf_anomaly_files_are_cut_into_the_runners_windows(tmp_path: Path) -> None:
    # ToyADMOS layout: 200 frames of 128 log-mel bins; window 5 frames, stride 1 frame.
    rng = np.random.default_rng(4)
    spectrograms = rng.normal(-20, 10, size=(3, 200 * 128)).astype("<f4")
    folder = tmp_path / "ad"
    labels = [0, 0, 1]
    _write_y_labels(folder, [f"id01_{i}.bin,2,{label},2560,512"
                             for i, label in enumerate(labels)])
    for i, values in enumerate(spectrograms):
        (folder / f"id01_{i}.bin").write_bytes(values.tobytes())
    data = load_dataset("mlperf:ad", base_dir=tmp_path, input_spec=AD_INPUT, task="anomaly")
    windows = (200 * 128 - 640) // 128 + 1
    assert windows == 196
    assert data.task == "anomaly" and data.x.shape == (3 * windows, 640)
    np.testing.assert_array_equal(data.y, np.repeat(labels, windows))
    np.testing.assert_array_equal(data.groups, np.repeat([0, 1, 2], windows))
    # window k of file f starts at frame k
    for f, k in [(0, 0), (1, 17), (2, 195)]:
        np.testing.assert_array_equal(data.x[f * windows + k],
                                      spectrograms[f][k * 128:k * 128 + 640])
    assert data.to_model_input(0, AD_INPUT).shape == (1, 640)


def test_mlperf_shared_label_files_parse(tmp_path: Path) -> None:
    """The y_labels.csv files of /work/shared/mlperf_tiny, with inputs made to fit them."""
    shared = Path("/work/shared/mlperf_tiny")
    if not (shared / "ad01_y_labels.csv").is_file():
        pytest.skip("shared MLPerf Tiny label files not present")
    rows = (shared / "ad01_y_labels.csv").read_text().splitlines()[:3]
    _write_y_labels(tmp_path, rows)
    for row in rows:
        (tmp_path / row.split(",")[0]).write_bytes(np.zeros((2560 + 2 * 512) // 4, "<f4").tobytes())
    data = load_dataset(f"mlperf:{tmp_path}")
    assert data.task == "anomaly" and data.x.shape == (3 * 3, 640)


@pytest.mark.parametrize(("rows", "files", "message"), [
    (None, {}, r"y_labels\.csv not found"),
    (["a.bin,10"], {}, r"y_labels\.csv:1: expected file,num_classes,label"),
    (["a.bin,10,x"], {}, r"y_labels\.csv:1: expected"),
    (["a.bin,10,10"], {"a.bin": 4}, r"a\.bin: label 10 is outside 0\.\.9"),
    (["a.bin,10,1", "b.bin,2,0,8,4"], {}, "rows with and without window fields are mixed"),
    (["a.bin,10,1", "b.bin,10,2"], {"a.bin": 4, "b.bin": 5},
     r"b\.bin: 5 values per sample, but a\.bin has 4"),
    (["a.bin,10,1"], {}, r"cannot read MLPerf input file .*a\.bin"),
    (["a.bin,2,0,10,4"], {"a.bin": 40}, "must be positive multiples of 4"),
    (["a.bin,2,0,48,4"], {"a.bin": 40}, "shorter than one window"),
    (["a.bin,2,0,8,4"], {"a.bin": 41}, "not a whole number of float32"),
    ([""], {}, r"y_labels\.csv: no rows"),
])
def test_bad_mlperf_folders_say_what_is_wrong(tmp_path: Path, rows: list[str] | None,
                                              files: dict[str, int], message: str) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    if rows is not None:
        _write_y_labels(folder, rows)
    for name, size in files.items():
        (folder / name).write_bytes(bytes(size))
    with pytest.raises(ModelError, match=message):
        load_dataset("mlperf:set", base_dir=tmp_path)


# --- generated ----------------------------------------------------------------------------

def test_generated_int8_inputs_cover_the_integer_range() -> None:
    data = generated_dataset(AD_INPUT, n=50, seed=7)
    assert data.generated and data.x.dtype == np.float32 and data.x.shape == (50, 640)
    assert np.all(data.y == -1)
    raw = np.stack([data.to_model_input(i, AD_INPUT) for i in range(len(data))])
    assert raw.dtype == np.int8
    assert raw.min() == -128 and raw.max() == 127
    np.testing.assert_array_equal(generated_dataset(AD_INPUT, n=50, seed=7).x, data.x)
    assert not np.array_equal(generated_dataset(AD_INPUT, n=50, seed=8).x, data.x)


def test_generated_float_inputs_and_stand_in_labels() -> None:
    spec = TensorSpec("float32", (1, 8, 8, 1))
    data = generated_dataset(spec, n=30, seed=0, num_classes=4)
    assert data.x.shape == (30, 8, 8, 1) and data.generated
    assert data.x.min() >= -1.0 and data.x.max() <= 1.0
    assert set(np.unique(data.y)) <= {0, 1, 2, 3}
    assert data.to_model_input(0, spec).dtype == np.float32


def test_generated_reference_needs_the_model_input() -> None:
    with pytest.raises(ModelError, match="needs the model's input spec"):
        load_dataset("generated")
    data = load_dataset("generated", input_spec=KWS_INPUT, n=5, seed=1, task="classification")
    assert data.x.shape == (5, 49, 10, 1) and data.generated


# --- split, take, to_model_input ----------------------------------------------------------

def test_split_is_deterministic_disjoint_and_stratified() -> None:
    labels = [0] * 40 + [1] * 20 + [2] * 8 + [3]
    data = _indexed(labels)
    train, test = data.split(0.25, seed=5)
    again_train, again_test = data.split(0.25, seed=5)
    np.testing.assert_array_equal(train.x, again_train.x)
    np.testing.assert_array_equal(test.x, again_test.x)
    other_test = data.split(0.25, seed=6)[1]
    assert not np.array_equal(np.sort(other_test.x, axis=0), np.sort(test.x, axis=0))
    ids = np.concatenate([train.x[:, 0], test.x[:, 0]])
    assert sorted(ids) == list(range(len(labels)))  # every sample once
    np.testing.assert_array_equal(np.bincount(test.y, minlength=4), [10, 5, 2, 0])
    # labels travel with their samples
    np.testing.assert_array_equal(test.y, np.array(labels)[test.x[:, 0].astype(int)])
    # shuffled: the first few test samples are not all of one class
    assert len(set(test.y[:6])) > 1
    assert "25% held out, seed 5" in test.description


def test_split_keeps_the_windows_of_one_file_together() -> None:
    groups = np.repeat(np.arange(12), 5)
    labels = np.repeat([0] * 8 + [1] * 4, 5)
    train, test = _indexed(list(labels), list(groups)).split(0.25, seed=0)
    assert not set(train.groups) & set(test.groups)
    assert len(set(test.groups)) == 3  # 2 of 8 normal files + 1 of 4 anomalous
    assert sorted(np.bincount(test.groups)[np.unique(test.groups)]) == [5, 5, 5]


def test_split_fraction_must_be_a_proper_fraction() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        _indexed([0, 1]).split(1.0, seed=0)


def test_take_gives_the_first_samples() -> None:
    data = _indexed([0, 1, 2, 0, 1])
    np.testing.assert_array_equal(data.take(3).x[:, 0], [0, 1, 2])
    assert len(data.take(10)) == 5


def test_to_model_input_quantizes_with_the_models_scale_and_zero_point() -> None:
    data = Dataset(name="three", task="classification",
                   x=np.array([[0.0, 1 / 255, 0.5, 1.0]], dtype=np.float32), y=np.array([0]))
    spec = TensorSpec("int8", (1, 4), 1 / 255, -128)
    np.testing.assert_array_equal(data.to_model_input(0, spec), [[-128, -127, 0, 127]])
    wide = TensorSpec("int8", (1, 2, 2), 1 / 64, 0)  # 1.0 -> 64, reshaped to the model
    np.testing.assert_array_equal(data.to_model_input(0, wide), [[[0, 0], [32, 64]]])


def test_to_model_input_names_both_shapes_when_they_do_not_fit() -> None:
    digits = load_dataset("digits")
    with pytest.raises(ModelError, match=r"dataset 'digits': samples of shape \(8, 8, 1\) "
                                         r"\(64 values\) do not fit the model input "
                                         r"int8\[1, 32, 32, 3\] \(3072 values\)"):
        digits.to_model_input(0, IC_INPUT)


def test_inconsistent_arrays_are_refused() -> None:
    with pytest.raises(ModelError, match=r"y must be integers of shape \(3,\)"):
        Dataset(name="bad", task="classification", x=np.zeros((3, 2), np.float32),
                y=np.zeros(2, np.int64))
    with pytest.raises(ModelError, match="x must be float32"):
        Dataset(name="bad", task="classification", x=np.zeros((3, 2)), y=np.zeros(3, np.int64))
    with pytest.raises(ModelError, match="task 'regression'"):
        Dataset(name="bad", task="regression", x=np.zeros((3, 2), np.float32),  # type: ignore[arg-type]
                y=np.zeros(3, np.int64))
