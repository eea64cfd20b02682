"""Typed, validated configuration: board definitions and bench files."""
