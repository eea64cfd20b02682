"""Compressed variants of a model, each a .tflite with a model card (see pipeline.py)."""
