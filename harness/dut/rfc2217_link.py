"""An RFC 2217 port (a labgrid place's serial port, served by ser2net) that keeps what the
board said while the link was being set up.

ser2net opens the board's port when a client connects, and a board that resets when
its port opens (a simulated board, an ESP32 through its DTR/RTS wiring) sends its boot
READY then. pyserial's client ends ``open()`` by purging input, after its option
negotiation: the READY would be gone and the session would wait for one that never
comes. Nothing on this link can be stale (the port was opened for us), so nothing is
purged while opening; afterwards ``reset_input_buffer`` purges as before.
"""

from __future__ import annotations

from serial import rfc2217


class KeepingRfc2217(rfc2217.Serial):
    _opening = False

    def open(self) -> None:
        self._opening = True
        try:
            super().open()
        finally:
            self._opening = False

    def reset_input_buffer(self) -> None:
        if not self._opening:
            super().reset_input_buffer()
