"""A stand-in for pyjoulescope_driver.Driver: the same open/publish/subscribe
surface, streaming the known waveform the way the real driver delivers it
(a Joulescope is USB-only, so the vendor library's API is the edge we fake)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from tests.instruments.waveform import Waveform

NATIVE = {"js110": 2_000_000, "js220": 1_000_000}
MESSAGE_S = 0.01


class FakeDriver:
    """``paths`` are the connected devices; ``lose_message`` drops that message number
    (of the current stream) as a USB hiccup would. ``vanish_after_s`` unplugs the
    device that long into streaming: no more data, and (``loud``) every later
    publish to it raises, as for any device the driver no longer has. A current
    range of ``off`` opens the sensor's path: the board draws nothing."""

    def __init__(self, waveform: Waveform, paths: tuple[str, ...] = ("u/js220/000415",),
                 volts: float = 3.0, lose_message: int | None = None,
                 vanish_after_s: float | None = None, loud: bool = True) -> None:
        self.waveform = waveform
        self.paths = list(paths)
        self.volts = volts
        self.lose_message = lose_message
        self.vanish_after_s = vanish_after_s
        self.loud = loud
        self.vanished = False
        self.range: dict[str, object] = {}
        self.published: list[tuple[str, object]] = []
        self.opened: list[str] = []
        self.finalized = False
        self._subs: dict[str, list[Callable[[str, dict], None]]] = {}
        self._fs: dict[str, int] = {}
        self._on: set[str] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the Driver surface the backend uses --------------------------------------------
    def device_paths(self, timeout: float | None = None) -> list[str]:
        return list(self.paths)

    def open(self, device_prefix: str, mode: str | None = None,
             timeout: float | None = None) -> None:
        if device_prefix not in self.paths:
            raise RuntimeError(f"open {device_prefix}: not found")
        self.opened.append(device_prefix)
        self._fs[device_prefix] = NATIVE[device_prefix.split("/")[1]]

    def close(self, device_prefix: str, timeout: float | None = None) -> None:
        self._halt()
        self.opened.remove(device_prefix)

    def finalize(self, timeout: float | None = None) -> None:
        self._halt()
        self.finalized = True

    def subscribe(self, topic: str, flags: object, fn: Callable[[str, dict], None],
                  timeout: float | None = None) -> None:
        self._subs.setdefault(topic, []).append(fn)

    def unsubscribe(self, topic: str, fn: Callable, timeout: float | None = None) -> None:
        self._subs[topic].remove(fn)

    def publish(self, topic: str, value: object, timeout: float | None = None) -> None:
        if self.vanished and self.loud:
            raise RuntimeError(f"publish {topic}: device not found")
        self.published.append((topic, value))
        device, _, rest = topic.partition("/s/")
        if rest in ("i/range/mode", "i/range/select"):
            self.range[device] = value
        if topic.endswith("/h/fs"):
            self._fs[topic[:-len("/h/fs")]] = int(value)  # type: ignore[call-overload]
        elif rest.endswith("ctrl"):
            signal = rest[:-len("/ctrl")]
            (self._on.add if value else self._on.discard)(signal)
            if value and self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._stream, args=(device,),
                                                daemon=True)
                self._thread.start()
            if not self._on:
                self._halt()

    # -- streaming ----------------------------------------------------------------------
    def _halt(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _stream(self, device: str) -> None:
        native = NATIVE[device.split("/")[1]]
        fs = self._fs[device]
        factor = native // fs
        start, sent, message = time.monotonic(), 0, 0
        while not self._stop.wait(MESSAGE_S / 2):
            if self.vanish_after_s is not None and time.monotonic() - start > self.vanish_after_s:
                self.vanished = True
                return
            due = int((time.monotonic() - start) * fs)
            if due <= sent:
                continue
            k = np.arange(sent, due)
            t = (k + 0.5) / fs
            meta = {"sample_id": sent * factor, "decimate_factor": factor,
                    "sample_rate": native, "field_id": 0, "index": 0, "utc": 0}
            amps = self.waveform.current(t) if self.range.get(device) != "off" else 0 * t
            payload = {"i": amps.astype(np.float32),
                       "v": np.full(len(k), self.volts, dtype=np.float32)}
            for signal in self._on:
                if signal.startswith("gpi/"):
                    data = np.packbits(self.waveform.marker(t), bitorder="little")
                elif signal == "i" and message == self.lose_message:
                    continue
                else:
                    data = payload[signal]
                for fn in self._subs.get(f"{device}/s/{signal}/!data", []):
                    fn(f"{device}/s/{signal}/!data", {**meta, "data": data})
            sent, message = due, message + 1
