"""One dataset interface for compression, host evaluation and on-device accuracy runs.

A `Dataset` holds real-valued float32 features and integer labels; a model's
input spec turns a sample into the bytes a board receives (`to_model_input`).
Bench files name a dataset with a reference string, resolved by `load_dataset`:

``digits``
    scikit-learn's bundled 8×8 digits, scaled to [0, 1], shape (8, 8, 1).
``npz:<path>``
    arrays ``x`` (features, real values) and ``y`` (integer labels).
``mlperf:<folder>[#<encoding>]``
    an MLPerf Tiny dataset folder: ``y_labels.csv`` with rows
    ``file,num_classes,label`` and the raw ``.bin`` input files beside it. The
    runner sends a file's bytes to the board unchanged, and the reference
    firmware maps them to the model input, so the encoding says how to read them:
    ``uint8`` (default; image classification and visual wake words: the pixel
    value is the real value, which the int8 model maps by subtracting 128),
    ``int8`` (keyword spotting: already quantized with the model's input
    scale/zero point, so the loader needs the model's input spec) or
    ``float32`` (little-endian; always for anomaly detection).
    Anomaly-detection rows carry two more fields, ``window_bytes,stride_bytes``:
    each file (a log-mel spectrogram, 200 frames of 128 bins) is cut into windows
    of ``window_bytes`` advancing by ``stride_bytes``, as the MLPerf runner feeds
    them, and every window becomes one sample with its file's label. ``groups``
    records the file of each window, so a scorer can average the windows of a
    file (MLPerf's per-file score) and `Dataset.split` never puts windows of
    one file on both sides.
``generated``
    random inputs over the model input's range (`generated_dataset`); no labels.

Every scheme is one entry of `DATASET_ADAPTERS`: these built-in ones and the
``tinyml_harness.datasets`` entry points (`harness/plugins.py`), each a
`DatasetAdapterInfo` with the adapter, a label and the argument it takes.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from harness.errors import HarnessError, ModelError
from harness.plugins import Registry
from harness.tensors import TensorSpec

log = logging.getLogger(__name__)

Task = Literal["classification", "anomaly"]
TASKS: tuple[str, ...] = ("classification", "anomaly")
UNLABELLED = -1
BIN_ENCODINGS = ("uint8", "int8", "float32")
FLOAT_INPUT_RANGE = (-1.0, 1.0)  # a float model's input range is not recorded in the file


#: Models are trained on the train side of split(HELD_OUT_FRACTION, HELD_OUT_SEED)
#: and scored, on the host and on boards, on its test side.
HELD_OUT_FRACTION = 0.25
HELD_OUT_SEED = 0


@dataclass(frozen=True)
class Dataset:
    """Samples ``x`` (float32, shape (N, *input_shape)) with labels ``y`` (int, shape (N,)).

    Labels: class index for classification, 0 normal / 1 anomalous for anomaly
    detection, -1 when unknown. ``generated`` marks synthetic inputs, whose
    labels are never scored. ``groups`` (optional, shape (N,)) ties samples cut
    from one source file together.
    """

    name: str
    task: Task
    x: np.ndarray
    y: np.ndarray
    generated: bool = False
    description: str = ""
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelError(f"dataset {self.name!r}: task {self.task!r} is not one of {TASKS}")
        if self.x.dtype != np.float32 or self.x.ndim < 2:
            raise ModelError(f"dataset {self.name!r}: x must be float32 of shape (N, ...), "
                             f"got {self.x.dtype} {self.x.shape}")
        if not np.issubdtype(self.y.dtype, np.integer) or self.y.shape != self.x.shape[:1]:
            raise ModelError(f"dataset {self.name!r}: y must be integers of shape "
                             f"{self.x.shape[:1]}, got {self.y.dtype} {self.y.shape}")
        if self.groups is not None and self.groups.shape != self.y.shape:
            raise ModelError(f"dataset {self.name!r}: groups must have shape {self.y.shape}, "
                             f"got {self.groups.shape}")

    def __len__(self) -> int:
        return len(self.y)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def split(self, test_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
        """Deterministic (train, test) split, stratified by label.

        Each class (or, with ``groups``, each class of groups) gives
        round(test_fraction × count) members to the test side, at least one
        when it has two or more. Both sides come out shuffled, so the first n
        samples of either mix the classes.
        """
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        rng = np.random.default_rng(seed)
        units = self.groups if self.groups is not None else np.arange(len(self))
        unit_ids, first = np.unique(units, return_index=True)
        unit_labels = self.y[first]
        test_units = []
        for label in np.unique(unit_labels):
            members = rng.permutation(unit_ids[unit_labels == label])
            k = round(len(members) * test_fraction)
            k = min(max(k, 1), len(members) - 1) if len(members) > 1 else 0
            test_units.append(members[:k])
        in_test = np.isin(units, np.concatenate(test_units) if test_units else [])
        note = f"{test_fraction:.0%} held out, seed {seed}"
        return (self._subset(rng.permutation(np.flatnonzero(~in_test)), f"train split ({note})"),
                self._subset(rng.permutation(np.flatnonzero(in_test)), f"test split ({note})"))

    def held_out(self) -> Dataset:
        """The test side of the one split every model here is trained and scored by."""
        return self.split(HELD_OUT_FRACTION, HELD_OUT_SEED)[1]

    def take(self, n: int) -> Dataset:
        """The first ``n`` samples (all of them when there are fewer)."""
        return self._subset(np.arange(min(n, len(self))), "")

    def to_model_input(self, i: int, spec: TensorSpec) -> np.ndarray:
        """Sample ``i`` as the model's input tensor (quantized for integer models)."""
        sample = self.x[i]
        needed = int(np.prod(spec.shape, dtype=np.int64))
        if sample.size != needed:
            raise ModelError(f"dataset {self.name!r}: samples of shape {sample.shape} "
                             f"({sample.size} values) do not fit the model input "
                             f"{spec.dtype}{list(spec.shape)} ({needed} values)")
        return spec.quantize(sample)

    def _subset(self, index: np.ndarray, what: str) -> Dataset:
        groups = None if self.groups is None else self.groups[index]
        description = f"{self.description}; {what}" if what else self.description
        return replace(self, x=self.x[index], y=self.y[index], groups=groups,
                       description=description)


def sample_shape(spec: TensorSpec) -> tuple[int, ...]:
    """A model input's shape without its batch dimension of 1."""
    return spec.shape[1:] if len(spec.shape) > 1 and spec.shape[0] == 1 else spec.shape


def generated_dataset(spec: TensorSpec, n: int, seed: int = 0, num_classes: int | None = None,
                      task: Task = "classification") -> Dataset:
    """``n`` uniform random inputs over the model input's range (no dataset at hand).

    Quantized inputs cover the whole integer range; float inputs [-1, 1], as a
    float model does not record its range. Labels are -1, or with
    ``num_classes`` random stand-ins for code that needs one per sample
    (calibration and fine-tuning smoke runs); they are never scored.
    """
    rng = np.random.default_rng(seed)
    if spec.quantized:
        info = np.iinfo(spec.dtype)
        low, high = ((info.min - spec.zero_point) * spec.scale,
                     (info.max - spec.zero_point) * spec.scale)
    else:
        low, high = FLOAT_INPUT_RANGE
    x = rng.uniform(low, high, size=(n, *sample_shape(spec))).astype(np.float32)
    y = (rng.integers(0, num_classes, size=n) if num_classes
         else np.full(n, UNLABELLED, dtype=np.int64))
    return Dataset(name="generated", task=task, x=x, y=y, generated=True,
                   description=f"{n} generated inputs, uniform over [{low:.4g}, {high:.4g}]")


@dataclass(frozen=True)
class DatasetRequest:
    """What an adapter gets: the part of the reference after ``scheme:`` and the context."""

    arg: str
    base_dir: Path
    input_spec: TensorSpec | None
    task: Task | None
    seed: int
    n: int


DatasetAdapter = Callable[[DatasetRequest], Dataset]


@dataclass(frozen=True)
class DatasetAdapterInfo:
    """A scheme's entry in the registry (a plugin's entry point names one of these)."""

    adapter: DatasetAdapter
    label: str          # what the data is, for people
    arg: str = ""       # what follows ``scheme:`` ("" for none), e.g. "<path>"

    def reference(self, scheme: str) -> str:
        """How a bench file writes a reference to it, e.g. ``npz:<path>``."""
        return f"{scheme}:{self.arg}" if self.arg else scheme


_BUILTIN_ADAPTERS: dict[str, DatasetAdapterInfo] = {}
DATASET_ADAPTERS = Registry("dataset adapter", "tinyml_harness.datasets", DatasetAdapterInfo,
                            _BUILTIN_ADAPTERS)


def register_dataset_adapter(scheme: str, label: str, arg: str = ""
                             ) -> Callable[[DatasetAdapter], DatasetAdapter]:
    """Register a built-in adapter for references ``<scheme>`` or ``<scheme>:<arg>``."""

    def decorate(adapter: DatasetAdapter) -> DatasetAdapter:
        if scheme in _BUILTIN_ADAPTERS:
            raise ValueError(f"a dataset adapter for {scheme!r} is already registered")
        _BUILTIN_ADAPTERS[scheme] = DatasetAdapterInfo(adapter, label, arg)
        return adapter

    return decorate


def dataset_references() -> list[str]:
    """How each known scheme is written, e.g. ``digits``, ``npz:<path>``."""
    builtin = DATASET_ADAPTERS.builtins()  # a plugin's is not imported just to be listed
    return [builtin[s].reference(s) if s in builtin else s for s in DATASET_ADAPTERS.names()]


def load_dataset(ref: str, *, base_dir: Path | None = None, input_spec: TensorSpec | None = None,
                 task: Task | None = None, seed: int = 0, n: int = 256) -> Dataset:
    """Resolve a bench file's dataset reference.

    ``base_dir`` anchors relative paths (the bench file's folder; default the
    working directory). ``input_spec`` is the model's input, needed by
    ``generated`` and ``mlperf:…#int8``. ``task``, when given, must match the
    dataset's (it sets the task of ``npz`` and ``generated`` data). ``seed``
    and ``n`` apply to ``generated``.
    """
    scheme, _, arg = ref.partition(":")
    if scheme not in DATASET_ADAPTERS:
        raise ModelError(f"unknown dataset reference {ref!r} (known: "
                         f"{', '.join(dataset_references())})")
    try:
        info = DATASET_ADAPTERS.get(scheme)
    except HarnessError as exc:  # a plugin that does not load
        raise ModelError(f"dataset {ref!r}: {exc}") from exc
    dataset = info.adapter(DatasetRequest(arg, base_dir or Path.cwd(), input_spec, task, seed,
                                          n))
    if task is not None and dataset.task != task:
        raise ModelError(f"dataset {ref!r} is a {dataset.task} dataset, the model a {task} model")
    log.debug("dataset %s: %d samples of shape %s", ref, len(dataset), dataset.input_shape)
    return dataset


def _no_arg(request: DatasetRequest, scheme: str) -> None:
    if request.arg:
        raise ModelError(f"dataset {scheme!r} takes no argument, got {scheme}:{request.arg}")


def _path(request: DatasetRequest, scheme: str) -> Path:
    if not request.arg:
        raise ModelError(f"dataset reference {scheme}: needs a path, as in {scheme}:<path>")
    path = Path(request.arg).expanduser()
    return path if path.is_absolute() else request.base_dir / path


@register_dataset_adapter("digits", "scikit-learn's bundled 8×8 digits")
def _load_digits(request: DatasetRequest) -> Dataset:
    _no_arg(request, "digits")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are 0..16 (counts of set pixels in 4×4 blocks of the 32×32 original).
    x = (bunch.images / 16.0).astype(np.float32)[..., np.newaxis]
    return Dataset(name="digits", task="classification", x=x, y=bunch.target.astype(np.int64),
                   description=f"scikit-learn digits, {len(x)} 8×8 images, 10 classes")


@register_dataset_adapter("generated", "random inputs over the model input's range")
def _load_generated(request: DatasetRequest) -> Dataset:
    _no_arg(request, "generated")
    if request.input_spec is None:
        raise ModelError("a generated dataset needs the model's input spec")
    return generated_dataset(request.input_spec, request.n, request.seed,
                             task=request.task or "classification")


@register_dataset_adapter("npz", "arrays x and y in an .npz file", "<path>")
def _load_npz(request: DatasetRequest) -> Dataset:
    path = _path(request, "npz")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x", "y") if k not in archive.files]
            if missing:
                raise ModelError(f"{path}: missing array(s) {', '.join(missing)} (has: "
                                 f"{', '.join(archive.files) or 'none'}); expected x "
                                 "(features) and y (integer labels)")
            x, y = archive["x"], archive["y"]
            groups = archive["groups"] if "groups" in archive.files else None
    except (OSError, ValueError) as exc:  # absent, not a zip, or pickled object arrays
        raise ModelError(f"{path}: cannot read as an .npz of numeric arrays: {exc}") from exc
    if not np.issubdtype(x.dtype, np.number) or x.ndim < 2:
        raise ModelError(f"{path}: x must be numeric of shape (N, ...), got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x) or not np.array_equal(y, np.round(y)):
        raise ModelError(f"{path}: y must hold one integer label per row of x ({len(x)}), "
                         f"got {y.dtype} {y.shape}")
    if groups is not None and groups.shape != y.shape:
        raise ModelError(f"{path}: groups must hold one source-file id per row of x "
                         f"({len(x)}), got {groups.dtype} {groups.shape}")
    return Dataset(name=path.stem, task=request.task or "classification",
                   x=x.astype(np.float32), y=y.astype(np.int64), groups=groups,
                   description=f"{path.name}, {len(x)} samples")


@register_dataset_adapter("mlperf", "an MLPerf Tiny dataset folder (y_labels.csv + .bin)",
                          "<folder>[#uint8|int8|float32]")
def _load_mlperf(request: DatasetRequest) -> Dataset:
    folder_arg, _, encoding = request.arg.partition("#")
    folder = _path(replace(request, arg=folder_arg), "mlperf")
    rows = _read_y_labels(folder / "y_labels.csv")
    windowed = len(rows[0]) == 5
    encoding = encoding or ("float32" if windowed else "uint8")
    if encoding not in BIN_ENCODINGS or (windowed and encoding != "float32"):
        raise ModelError(f"mlperf:{request.arg}: encoding {encoding!r} is not one of "
                         f"{BIN_ENCODINGS} (anomaly-detection files are float32)")
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    for index, (name, num_classes, label, *window) in enumerate(rows):
        if not 0 <= label < num_classes:
            raise ModelError(f"{folder / 'y_labels.csv'}: {name}: label {label} is outside "
                             f"0..{num_classes - 1}")
        values = _decode_bin(folder / name, encoding, request.input_spec)
        samples = _windows(folder / name, values, *window) if windowed else values[np.newaxis]
        if xs and samples.shape[1] != xs[0].shape[1]:
            raise ModelError(f"{folder / name}: {samples.shape[1]} values per sample, but "
                             f"{rows[0][0]} has {xs[0].shape[1]}; all inputs must match")
        xs.append(samples)
        ys.append(np.full(len(samples), label, dtype=np.int64))
        groups.append(np.full(len(samples), index, dtype=np.int64))
    x = np.concatenate(xs)
    spec = request.input_spec
    if spec is not None and x.shape[1] == int(np.prod(spec.shape)):
        x = x.reshape(len(x), *sample_shape(spec))
    return Dataset(name=folder.name, task="anomaly" if windowed else "classification", x=x,
                   y=np.concatenate(ys), groups=np.concatenate(groups) if windowed else None,
                   description=f"MLPerf Tiny folder {folder.name}, {len(rows)} files"
                               + (f", {len(x)} windows" if windowed else ""))


def _read_y_labels(path: Path) -> list[tuple]:
    if not path.is_file():
        raise ModelError(f"{path} not found: an MLPerf Tiny dataset folder has a y_labels.csv "
                         "with rows file,num_classes,label and the .bin files beside it")
    rows: list[tuple] = []
    with path.open(newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                if len(row) not in (3, 5):
                    raise ValueError(f"{len(row)} fields")
                rows.append((row[0].strip(), *(int(v) for v in row[1:])))
            except ValueError as exc:
                raise ModelError(f"{path}:{line_no}: expected file,num_classes,label or "
                                 f"file,num_classes,label,window_bytes,stride_bytes ({exc})"
                                 ) from exc
    if not rows:
        raise ModelError(f"{path}: no rows")
    if len({len(r) for r in rows}) > 1:
        raise ModelError(f"{path}: rows with and without window fields are mixed")
    return rows


def _decode_bin(path: Path, encoding: str, spec: TensorSpec | None) -> np.ndarray:
    """A .bin file's real values (1-D float32)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read MLPerf input file {path}: {exc}") from exc
    if encoding == "float32":
        if len(data) % 4:
            raise ModelError(f"{path}: {len(data)} bytes is not a whole number of float32")
        return np.frombuffer(data, dtype="<f4").astype(np.float32)
    if encoding == "uint8":
        return np.frombuffer(data, dtype=np.uint8).astype(np.float32)
    if spec is None or not spec.quantized or spec.dtype != "int8":
        raise ModelError(f"{path}: int8 input files are quantized model inputs; reading them "
                         f"needs the model's quantized int8 input spec, got {spec}")
    return spec.dequantize(np.frombuffer(data, dtype=np.int8))


def _windows(path: Path, values: np.ndarray, window_bytes: int, stride_bytes: int) -> np.ndarray:
    """Windows of a float32 file as the MLPerf runner cuts them (sizes in bytes)."""
    if window_bytes <= 0 or stride_bytes <= 0 or window_bytes % 4 or stride_bytes % 4:
        raise ModelError(f"{path}: window {window_bytes} B / stride {stride_bytes} B must be "
                         "positive multiples of 4 (float32)")
    window, stride = window_bytes // 4, stride_bytes // 4
    if len(values) < window:
        raise ModelError(f"{path}: {len(values) * 4} bytes is shorter than one window "
                         f"({window_bytes} B)")
    return np.lib.stride_tricks.sliding_window_view(values, window)[::stride].copy()
