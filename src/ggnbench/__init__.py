"""ggnbench: reproduce and benchmark the BackPACK diagonal Gauss-Newton optimizer."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

#: The checkout this package runs from: its Snakefile, config/ and reference/.
CHECKOUT = Path(__file__).resolve().parents[2]

#: The ``pyproject.toml`` of the source tree this package was imported from, if any.
SOURCE_PYPROJECT = CHECKOUT / "pyproject.toml"

#: The version when neither the installed metadata nor a source tree gives one.
UNKNOWN_VERSION = "0.0.0+unknown"


def package_version(pyproject: Path = SOURCE_PYPROJECT) -> str:
    """The version of ggnbench: the installed distribution's, else the source tree's.

    Args:
        pyproject: The source tree's ``pyproject.toml``, read when ggnbench is not
            installed (running from a checkout with ``src`` on ``PYTHONPATH``).

    Returns:
        The version string, or :data:`UNKNOWN_VERSION` when neither has one.
    """
    try:
        return metadata.version("ggnbench")
    except metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        project = tomllib.loads(pyproject.read_text())["project"]
    except (OSError, ValueError, KeyError):
        return UNKNOWN_VERSION
    if project.get("name") != "ggnbench" or not isinstance(project.get("version"), str):
        return UNKNOWN_VERSION
    return project["version"]


__version__ = package_version()
