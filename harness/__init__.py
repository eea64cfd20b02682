"""TinyML benchmarking and energy harness."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tinyml-harness")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
