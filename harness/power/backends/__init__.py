"""Power-monitor backends for real instruments, one module each (selected by name)."""
