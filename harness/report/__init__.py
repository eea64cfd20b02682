"""Reports built from saved results only."""
