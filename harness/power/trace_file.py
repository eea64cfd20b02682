"""A long trace on disk, written and read in chunks so memory stays bounded.

A one-hour trace at 1 MS/s is 3.6e9 samples (14.4 GB of float32 current): it
never fits in memory as a `Trace`. A trace file is a folder of plain ``.npy``
files (float32 current, uint8 markers, float32 voltage when it varies) and a
``meta.json``. The writer appends chunks and fixes the ``.npy`` headers when it
closes; ``chunks()`` reads consecutive blocks with ordinary file reads (a memory
map would leave every page it touched resident), and ``current_a`` /
``markers`` are memory maps for excerpts (figures).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from harness.errors import MeasurementError
from harness.power.trace import TraceChunk

_FORMAT = "harness-trace-file/1"
_HEADER_BYTES = 128  # fixed, so the final shape can be written over the placeholder
_CURRENT = ("current_a.npy", np.dtype("<f4"))
_VOLTAGE = ("voltage_v.npy", np.dtype("<f4"))
_MARKER = np.dtype("u1")


def _npy_header(dtype: np.dtype, n: int) -> bytes:
    """A version 1.0 ``.npy`` header of exactly ``_HEADER_BYTES`` bytes."""
    text = f"{{'descr': '{dtype.str}', 'fortran_order': False, 'shape': ({n},), }}"
    body_len = _HEADER_BYTES - 10
    body = text.ljust(body_len - 1).encode("latin1") + b"\n"
    return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + body


class _Column:
    """One appendable ``.npy`` file."""

    def __init__(self, path: Path, dtype: np.dtype) -> None:
        self.path, self.dtype, self.n = path, dtype, 0
        self._fh: BinaryIO = path.open("wb")
        self._fh.write(_npy_header(dtype, 0))

    def append(self, values: np.ndarray) -> None:
        data = np.ascontiguousarray(values, dtype=self.dtype)
        self._fh.write(data.tobytes())
        self.n += len(data)

    def close(self) -> None:
        self._fh.seek(0)
        self._fh.write(_npy_header(self.dtype, self.n))
        self._fh.close()


class TraceWriter:
    """Append chunks of a trace to ``path`` (a folder); ``close()`` publishes it."""

    def __init__(self, path: Path, sample_rate: float, voltage_v: float | None,
                 markers: list[str], instrument: dict[str, str] | None = None,
                 t0: float = 0.0) -> None:
        """``voltage_v`` None: each chunk brings its voltage samples."""
        self.path = Path(path)
        self._tmp = self.path.with_name(self.path.name + ".part")
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._tmp.mkdir(parents=True)
        self._meta = {"format": _FORMAT, "sample_rate": float(sample_rate), "t0": t0,
                      "voltage_v": voltage_v, "markers": list(markers),
                      "instrument": dict(instrument or {})}
        self._current = _Column(self._tmp / _CURRENT[0], _CURRENT[1])
        self._voltage = None if voltage_v is not None else _Column(self._tmp / _VOLTAGE[0],
                                                                   _VOLTAGE[1])
        self._markers = {m: _Column(self._tmp / f"marker_{m}.npy", _MARKER) for m in markers}

    def append(self, current_a: np.ndarray, markers: Mapping[str, np.ndarray],
               voltage_v: np.ndarray | None = None) -> None:
        n = len(current_a)
        if set(markers) != set(self._markers):
            raise MeasurementError(f"{self.path}: chunk has markers {sorted(markers)}, "
                                   f"the trace has {sorted(self._markers)}")
        if any(len(v) != n for v in markers.values()) or (
                voltage_v is not None and len(voltage_v) != n):
            raise MeasurementError(f"{self.path}: chunk channels differ in length")
        if (voltage_v is None) != (self._voltage is None):
            raise MeasurementError(f"{self.path}: voltage samples given for a fixed supply "
                                   "or missing for a measured one")
        self._current.append(current_a)
        if self._voltage is not None and voltage_v is not None:  # both or neither (above)
            self._voltage.append(voltage_v)
        for name, column in self._markers.items():
            column.append(markers[name])

    def close(self, dropped_samples: int = 0, over_range_samples: int = 0,
              wall_duration_s: float | None = None, host_t0_s: float | None = None,
              interrupted: str | None = None) -> TraceFile:
        for column in (self._current, self._voltage, *self._markers.values()):
            if column is not None:
                column.close()
        self._meta |= {"n_samples": self._current.n, "dropped_samples": dropped_samples,
                       "over_range_samples": over_range_samples,
                       "wall_duration_s": wall_duration_s, "host_t0_s": host_t0_s,
                       "interrupted": interrupted}
        (self._tmp / "meta.json").write_text(json.dumps(self._meta, indent=1))
        if self.path.exists():
            shutil.rmtree(self.path)
        self._tmp.rename(self.path)
        return TraceFile(self.path)


class TraceFile:
    """A trace folder written by `TraceWriter`; the energy arithmetic reads it in chunks."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            meta = json.loads((self.path / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise MeasurementError(f"{self.path}: not a trace file: {exc}") from exc
        if meta.get("format") != _FORMAT:
            raise MeasurementError(f"{self.path}: not a trace file "
                                   f"(format {meta.get('format')!r})")
        self.sample_rate: float = float(meta["sample_rate"])
        self.t0: float = float(meta["t0"])
        self.instrument: dict[str, str] = dict(meta["instrument"])
        self.dropped_samples: int = int(meta["dropped_samples"])
        self.over_range_samples: int = int(meta["over_range_samples"])
        self.wall_duration_s: float | None = meta["wall_duration_s"]
        # absent from files written before these fields existed
        self.host_t0_s: float | None = meta.get("host_t0_s")
        self.interrupted: str | None = meta.get("interrupted")
        self.n_samples: int = int(meta["n_samples"])
        self._fixed_voltage: float | None = meta["voltage_v"]
        self._marker_names: list[str] = list(meta["markers"])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    def _map(self, name: str) -> np.ndarray:
        return np.load(self.path / name, mmap_mode="r", allow_pickle=False)

    @property
    def current_a(self) -> np.ndarray:
        return self._map(_CURRENT[0])

    @property
    def voltage_v(self) -> np.ndarray | float:
        return self._fixed_voltage if self._fixed_voltage is not None else self._map(_VOLTAGE[0])

    @property
    def markers(self) -> dict[str, np.ndarray]:
        return {m: self._map(f"marker_{m}.npy") for m in self._marker_names}

    def chunks(self, size: int) -> Iterator[TraceChunk]:
        """Consecutive blocks of at most ``size`` samples, each read fresh from disk."""
        names: dict[str, tuple[str, np.dtype]] = {"current": (_CURRENT[0], _CURRENT[1])}
        if self._fixed_voltage is None:
            names["voltage"] = (_VOLTAGE[0], _VOLTAGE[1])
        names |= {f"m:{m}": (f"marker_{m}.npy", _MARKER) for m in self._marker_names}
        files = {key: (self.path / name).open("rb") for key, (name, _) in names.items()}
        try:
            for fh in files.values():
                fh.seek(_HEADER_BYTES)
            for start in range(0, self.n_samples, size):
                count = min(size, self.n_samples - start)
                block = {key: np.fromfile(files[key], dtype=dtype, count=count)
                         for key, (_, dtype) in names.items()}
                if any(len(v) != count for v in block.values()):
                    raise MeasurementError(f"{self.path}: trace file is shorter than its "
                                           f"{self.n_samples} samples")
                volts = block["voltage"] if self._fixed_voltage is None else self._fixed_voltage
                yield TraceChunk(start, block["current"], volts,
                                 {m: block[f"m:{m}"] for m in self._marker_names})
        finally:
            for fh in files.values():
                fh.close()
