"""An emulated Otii TCP server on loopback: JSON requests and responses, one per
line (CRLF), as otii_tcp_client speaks them, with one emulated Arc recording
the known waveform on main current and voltage and the marker on GPI1."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from typing import Any

import numpy as np

from tests.instruments.waveform import Waveform

DEVICE = {"device_id": "Arc12345678912345678912345678900001", "name": "Arc", "type": "Arc"}


class OtiiEmulator:
    """The server's state: the device's settings, licenses and recordings."""

    def __init__(self, waveform: Waveform, sample_rate: int = 4000,
                 trip: bool = False, licenses_free: bool = True,
                 unplug_after: str | None = None) -> None:
        """``unplug_after``: the Arc is unplugged once the server has handled that command."""
        self.waveform = waveform
        self.unplug_after = unplug_after
        self.unplugged = False
        self.sample_rate = sample_rate
        self.trip = trip
        self.licenses_free = licenses_free
        self.settings: dict[str, Any] = {"enabled": set()}
        self.reserved: list[int] = []
        self.returned: list[int] = []
        self._recording: tuple[float, float] | None = None
        self._started: float | None = None

    def handle(self, cmd: str, data: dict) -> dict | str | tuple[str, dict]:
        """The response's data, or an error code (and the error's data)."""
        if cmd == "otii_is_logged_in":
            return {"logged_in": True}
        if cmd == "otii_get_licenses":
            return {"licenses": [{"id": 7, "type": "Automation", "available": True,
                                  "reserved_to": "" if self.licenses_free else "someone",
                                  "hostname": ""}]}
        if cmd == "otii_reserve_license":
            if not self.licenses_free:
                return "License could not be reserved"
            self.reserved.append(data["license_id"])
            return {}
        if cmd == "otii_return_license":
            self.returned.append(data["license_id"])
            return {}
        if cmd == "otii_get_devices":
            return {"devices": [DEVICE]}
        if cmd in ("otii_get_active_project", "otii_create_project"):
            return {"project_id": 1}
        if cmd.startswith("arc_"):
            if self.unplugged or data.get("device_id") != DEVICE["device_id"]:
                return "Device not connected", {"device_id": data.get("device_id", "")}
            return self._arc(cmd[4:], data)
        if cmd == "project_start_recording":
            self._started = time.monotonic()
            return {}
        if cmd == "project_stop_recording":
            assert self._started is not None
            self._recording = (self._started, time.monotonic())
            self.unplugged = self.unplugged or self.unplug_after == cmd
            return {}
        if cmd == "project_get_last_recording":
            return {"recording_id": 1 if self._recording else -1, "name": "Recording 1"}
        if cmd.startswith("recording_"):
            return self._channel(cmd[len("recording_"):], data)
        return "Invalid command"

    def _arc(self, what: str, data: dict) -> dict | str | tuple[str, dict]:
        if what == "get_version":
            return {"hw_version": "Arc 1.2", "fw_version": "1.2.4"}
        if what == "get_main":
            return {"value": self.settings.get("main", False) and not self.trip}
        if what == "enable_channel":
            self.settings["enabled"].add(data["channel"])
        elif what == "set_channel_samplerate":
            if data["value"] not in (1000, 4000, 50_000):
                return "Invalid key value", {"key": "value", "value": data["value"]}
            self.sample_rate = data["value"]
        elif what in ("set_main", "set_main_voltage", "set_max_current", "set_range",
                      "add_to_project"):
            self.settings[what[4:] if what.startswith("set_") else what] = (
                data.get("enable", data.get("value", data.get("range"))))
        else:
            return "Invalid command"
        return {}

    def _samples(self) -> int:
        assert self._recording is not None
        start, stop = self._recording
        return int((stop - start) * self.sample_rate)

    def _channel(self, what: str, data: dict) -> dict | str:
        channel = data["channel"]
        if channel not in self.settings["enabled"]:
            return "Invalid key value"
        edges = self._edges()
        if what == "get_channel_data_count":
            return {"count": len(edges) if channel.startswith("i") else self._samples()}
        if what != "get_channel_data":
            return "Invalid command"
        if channel.startswith("i"):
            return {"data_type": "digital", "values": edges}
        k = np.arange(data["index"], min(data["index"] + data["count"], self._samples()))
        t = (k + 0.5) / self.sample_rate
        values = (self.waveform.current(t) if channel == "mc"
                  else np.full(len(k), float(self.settings["main_voltage"])))
        return {"data_type": "analog", "timestamp": 0.0, "interval": 1 / self.sample_rate,
                "values": values.tolist()}

    def _edges(self) -> list[dict]:
        edges = [{"timestamp": 0.0, "value": False}]
        for start, end in self.waveform.spans():
            edges += [{"timestamp": float(start), "value": True},
                      {"timestamp": float(end), "value": False}]
        return edges


class OtiiServer:
    """A threaded TCP server on 127.0.0.1 (a free port) serving ``emulator``."""

    def __init__(self, emulator: OtiiEmulator) -> None:
        self.emulator = emulator
        lock = threading.Lock()

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                hello = {"type": "information", "info": "connected",
                         "data": {"otii_version": "3.5.5", "protocol_version": "0.1",
                                  "server": "otii-server"}}
                self.wfile.write(json.dumps(hello).encode() + b"\r\n")
                for line in self.rfile:
                    request = json.loads(line)
                    with lock:
                        result = emulator.handle(request["cmd"], request.get("data", {}))
                    reply: dict[str, Any] = {"cmd": request["cmd"],
                                             "trans_id": request.get("trans_id")}
                    if isinstance(result, str):
                        result = (result, {"message": result})
                    if isinstance(result, tuple):
                        reply |= {"type": "error", "errorcode": result[0], "data": result[1]}
                    else:
                        reply |= {"type": "response", "data": result}
                    self.wfile.write(json.dumps(reply).encode() + b"\r\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.resource = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtiiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
