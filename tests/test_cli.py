"""The command line itself: its version, and help texts and messages held to the registries."""

from __future__ import annotations

import tomllib
from importlib import metadata

import pytest

import ggnbench
from ggnbench import cli

ROOT = ggnbench.SOURCE_PYPROJECT.parent


def test_version_prints_the_package_version_and_where_it_runs_from(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out == f"ggnbench {ggnbench.__version__} from {ROOT / 'src' / 'ggnbench'}"
    try:
        installed = metadata.version("ggnbench")
    except metadata.PackageNotFoundError:  # running from a source tree
        installed = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ggnbench.__version__ == installed != ggnbench.UNKNOWN_VERSION


def test_version_falls_back_to_the_source_trees_pyproject(tmp_path, monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert ggnbench.package_version() == ours
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "somethingelse"\nversion = "9.9"\n')
    assert ggnbench.package_version(other) == ggnbench.UNKNOWN_VERSION
    other.write_text('[project]\nname = "ggnbench"\nversion = "9.9"\n')
    assert ggnbench.package_version(other) == "9.9"
    other.write_text("[project\n")  # not TOML
    assert ggnbench.package_version(other) == ggnbench.UNKNOWN_VERSION
    assert ggnbench.package_version(tmp_path / "none.toml") == ggnbench.UNKNOWN_VERSION
