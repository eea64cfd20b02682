"""What an ESP32 prints at 115200 Bd when it resets: ROM, then the 2nd-stage bootloader.

Taken from an ESP32-DevKitC (chip rev 1, ESP-IDF v5 bootloader at its default
INFO log level, colour codes included); the reset reason depends on the cause.
None of it holds a 0x00, so the firmware's first frame delimiter ends it as a
garbled frame the host drops.
"""

from __future__ import annotations

from typing import Literal

ResetCause = Literal["power-on", "brown-out", "watchdog"]

_REASON: dict[ResetCause, str] = {
    "power-on": "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
    "brown-out": "rst:0xf (RTCWDT_BROWN_OUT_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
    "watchdog": "rst:0x7 (TG0WDT_SYS_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)",
}
_ROM = ("configsip: 0, SPIWP:0xee",
        "clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00",
        "mode:DIO, clock div:2",
        "load:0x3fff0030,len:7104",
        "load:0x40078000,len:15576",
        "load:0x40080400,len:4",
        "ho 8 tail 4 room 4",
        "load:0x40080404,len:3876",
        "entry 0x4008064c")
_BOOTLOADER = ("I (31) boot: ESP-IDF v5.1.2 2nd stage bootloader",
               "I (31) boot: compile time Jan 12 2024 10:18:01",
               "I (31) boot: Multicore bootloader",
               "I (36) boot: chip revision: v1.0",
               "I (40) boot.esp32: SPI Speed      : 40MHz",
               "I (44) boot.esp32: SPI Mode       : DIO",
               "I (49) boot.esp32: SPI Flash Size : 4MB",
               "I (54) boot: Enabling RNG early entropy source...",
               "I (59) boot: Partition Table:",
               "I (63) boot: ## Label            Usage          Type ST Offset   Length",
               "I (70) boot:  0 nvs              WiFi data        01 02 00009000 00006000",
               "I (78) boot:  1 phy_init         RF data          01 01 0000f000 00001000",
               "I (85) boot:  2 factory          factory app      00 00 00010000 00100000",
               "I (93) boot: End of partition table",
               "I (97) boot: Loaded app from partition at offset 0x10000")


def esp32_boot_text(cause: ResetCause = "power-on") -> bytes:
    lines = ["ets Jun  8 2016 00:22:57", "", _REASON[cause], *_ROM]
    lines += [f"\x1b[0;32m{line}\x1b[0m" for line in _BOOTLOADER]
    prefix = "Brownout detector was triggered\r\n\r\n" if cause == "brown-out" else ""
    return (prefix + "\r\n".join(lines) + "\r\n").encode("ascii")
