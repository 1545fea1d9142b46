import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "envs"))
import make_conda_envs  # noqa: E402

LOCK = make_conda_envs.read_lock(ROOT / "envs" / "requirements.lock")
CONDA_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def conda_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {n.lower(): v for n, v in (line.split("==") for line in pip)}


def test_conda_files_exist():
    assert {p.stem for p in CONDA_FILES} == set(make_conda_envs.ENVIRONMENTS)


@pytest.mark.parametrize("path", CONDA_FILES, ids=lambda p: p.name)
def test_conda_file_pins_equal_the_lock(path):
    pins = conda_pins(path)
    assert pins, "no pinned packages"
    mismatched = {n: (v, LOCK.get(n)) for n, v in pins.items() if LOCK.get(n) != v}
    assert not mismatched, f"conda pin != lock pin: {mismatched}; run envs/lock.sh"


@pytest.mark.parametrize("path", CONDA_FILES, ids=lambda p: p.name)
def test_conda_file_is_what_the_generator_writes(path):
    name = path.stem
    expected = make_conda_envs.render(name, make_conda_envs.ENVIRONMENTS[name], LOCK, "3.11")
    assert path.read_text() == expected, "run: python envs/make_conda_envs.py"


def test_lock_pins_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    for requirement in wanted:
        name = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower()
        assert name in LOCK, f"{name} is not pinned in envs/requirements.lock"
