"""ggnbench: reproduce and benchmark the BackPACK diagonal Gauss-Newton optimizer."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ggnbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"
