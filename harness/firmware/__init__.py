"""Building firmware images: the QEMU port (make), the boards (PlatformIO), model embedding."""
