"""Measurement procedures over a DUT session: performance, accuracy, energy."""
