"""Fault injection for emulated boards: the bench's ``faults:`` section made real.

``wrap_with_faults`` (driver.py) puts a relay (relay.py) between a simulated or
QEMU board and the host: byte faults (byte_faults.py), resets with ESP32 boot
text (boot_text.py), hangs, and USB re-enumeration on the emulated bus of
``harness/boards/usb_ports.py``. ``FaultCounts`` (counts.py) says what it did.
"""

from harness.faults.counts import FaultCounts
from harness.faults.driver import FaultyDriver, wrap_with_faults

__all__ = ["FaultCounts", "FaultyDriver", "wrap_with_faults"]
