"""ggnbench: reproduce and benchmark the BackPACK diagonal Gauss-Newton optimizer."""

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    __version__ = version("ggnbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

#: The checkout this package runs from: its Snakefile, config/ and reference/.
CHECKOUT = Path(__file__).resolve().parents[2]
