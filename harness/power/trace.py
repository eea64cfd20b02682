"""A current trace as an instrument delivers it, and its compressed file form.

Sample ``k`` is the instrument's average over ``[t0 + k/fs, t0 + (k+1)/fs)``;
marker channels are sampled at the same instants (0/1, or a level in [0, 1]).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.errors import MeasurementError

_FORMAT = "harness-trace/1"


@dataclass(frozen=True)
class TraceChunk:
    """A run of consecutive samples; ``start`` is the index of the first one."""

    start: int
    current_a: np.ndarray
    voltage_v: np.ndarray | float
    markers: dict[str, np.ndarray]


class TraceSource(Protocol):
    """What the energy arithmetic reads: a `Trace` in memory, or a file read in chunks."""

    @property
    def sample_rate(self) -> float: ...
    @property
    def markers(self) -> Mapping[str, np.ndarray]: ...
    @property
    def instrument(self) -> dict[str, str]: ...
    @property
    def dropped_samples(self) -> int: ...
    @property
    def over_range_samples(self) -> int: ...
    @property
    def wall_duration_s(self) -> float | None: ...
    @property
    def host_t0_s(self) -> float | None: ...
    @property
    def interrupted(self) -> str | None: ...
    @property
    def n_samples(self) -> int: ...
    @property
    def duration_s(self) -> float: ...

    def chunks(self, size: int) -> Iterator[TraceChunk]: ...


@dataclass
class Trace:
    sample_rate: float
    current_a: np.ndarray
    voltage_v: np.ndarray | float          # per sample, or the fixed supply voltage
    markers: dict[str, np.ndarray] = field(default_factory=dict)
    t0: float = 0.0                          # instrument time of the first sample, s
    instrument: dict[str, str] = field(default_factory=dict)  # identity and settings
    dropped_samples: int = 0
    over_range_samples: int = 0
    #: host wall time between start() and stop(), when the instrument keeps its own
    #: clock: energy.py compares it with the trace's span (a stretched time base is a trap)
    wall_duration_s: float | None = None
    #: host monotonic time of the first sample, where the backend knows it: without a
    #: marker line, windows are placed from the host's INFER timestamps with it
    host_t0_s: float | None = None
    #: why the trace ended before stop() (the instrument went away mid-acquisition);
    #: None for a complete trace. energy.py refuses or flags a figure from such a trace.
    interrupted: str | None = None

    def __post_init__(self) -> None:
        n = len(self.current_a)
        for name, channel in self.markers.items():
            if len(channel) != n:
                raise MeasurementError(f"trace marker {name!r} has {len(channel)} samples, "
                                       f"current has {n}")
        if isinstance(self.voltage_v, np.ndarray) and len(self.voltage_v) != n:
            raise MeasurementError(f"trace voltage has {len(self.voltage_v)} samples, "
                                   f"current has {n}")

    @property
    def n_samples(self) -> int:
        return len(self.current_a)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    def chunks(self, size: int) -> Iterator[TraceChunk]:
        """Consecutive views of at most ``size`` samples (no copies)."""
        for start in range(0, self.n_samples, size):
            stop = start + size
            volts = (self.voltage_v[start:stop] if isinstance(self.voltage_v, np.ndarray)
                     else self.voltage_v)
            yield TraceChunk(start, self.current_a[start:stop], volts,
                             {k: v[start:stop] for k, v in self.markers.items()})

    def save(self, path: Path) -> None:
        """Compressed ``.npz``, written beside the results so figures can be recomputed."""
        meta = {"format": _FORMAT, "sample_rate": self.sample_rate, "t0": self.t0,
                "instrument": self.instrument, "dropped_samples": self.dropped_samples,
                "over_range_samples": self.over_range_samples,
                "wall_duration_s": self.wall_duration_s, "host_t0_s": self.host_t0_s,
                "interrupted": self.interrupted,
                "markers": sorted(self.markers)}
        arrays = {"meta": np.array(json.dumps(meta)), "current_a": self.current_a,
                  "voltage_v": np.asarray(self.voltage_v)}
        arrays |= {f"marker_{name}": ch for name, ch in self.markers.items()}
        tmp = path.with_name(path.name + ".part")
        with tmp.open("wb") as fh:
            np.savez_compressed(fh, allow_pickle=False, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Trace:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != _FORMAT:
                    raise MeasurementError(f"{path}: not a harness trace "
                                           f"(format {meta.get('format')!r})")
                volts = data["voltage_v"]
                return cls(sample_rate=float(meta["sample_rate"]),
                           current_a=data["current_a"],
                           voltage_v=float(volts) if volts.ndim == 0 else volts,
                           markers={m: data[f"marker_{m}"] for m in meta["markers"]},
                           t0=float(meta["t0"]), instrument=dict(meta["instrument"]),
                           dropped_samples=int(meta["dropped_samples"]),
                           over_range_samples=int(meta["over_range_samples"]),
                           wall_duration_s=meta["wall_duration_s"],
                           host_t0_s=meta["host_t0_s"],
                           interrupted=meta.get("interrupted"))
        except (OSError, KeyError, ValueError) as exc:
            raise MeasurementError(f"{path}: cannot read trace: {exc}") from exc
