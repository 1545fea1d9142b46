"""Run the overhead benchmark suite (``bench/``) as one workflow job.

pytest exits 1 when a case fails; the suite's ``conftest.py`` lists such cases, with the
first line of their cause, under ``unmeasured`` in the benchmark JSON, so that one case
that cannot be measured (an eigendecomposition that fails, a device out of memory)
leaves the others' measurements, the tables, the figures and the report. Anything else
(pytest's usage errors, an interruption, no JSON) fails the job with the log's last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ggnbench.errors import GGNBenchError

#: pytest's exit codes: all passed, some tests failed.
PYTEST_OK, PYTEST_FAILED = 0, 1


def networks(bench: dict[str, Any]) -> list[str]:
    """The problems whose networks the benchmark times.

    Args:
        bench: A study's ``bench`` section (or the schema's defaults of it).

    Returns:
        Its ``networks``, else every problem of the registry, in registry order.
    """
    from ggnbench.workload.problems import PROBLEMS

    return list(bench.get("networks") or PROBLEMS)


def run_suite(suite: Path, out: Path, log: Path, selection: list[str]) -> list[dict[str, Any]]:
    """Run the suite into ``out`` (written by rename), its output into ``log``.

    Args:
        suite: The ``bench/`` folder.
        out: The benchmark JSON to write.
        log: The log file (pytest's output, with progress lines).
        selection: The suite's options (``--bench-networks ...``).

    Returns:
        The cases that could not be measured (``network``, ..., ``case``, ``reason``).

    Raises:
        GGNBenchError: If pytest stopped without results, or failed without naming a case.
    """
    out, log = Path(out), Path(log)
    tmp = out.with_name(f".{out.name}.tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider",
               *selection, "--benchmark-json", str(tmp)]  # fmt: skip
    with open(log, "w") as stream:
        code = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT).returncode
    if code not in (PYTEST_OK, PYTEST_FAILED) or not tmp.exists():
        raise GGNBenchError(
            f"the benchmark suite stopped (pytest exit {code}) without results: "
            f"{_cause(log)} (log: {log})"
        )
    unmeasured = json.loads(tmp.read_text()).get("unmeasured", [])
    if code == PYTEST_FAILED and not unmeasured:
        tmp.unlink()
        raise GGNBenchError(f"the benchmark suite failed outside its cases: {_cause(log)} "
                            f"(log: {log})")  # fmt: skip
    os.replace(tmp, out)
    return unmeasured


def _cause(path: Path) -> str:
    """The first error line pytest wrote (``E   ...``), else the log's last line."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or lines or ["(empty log)"])[0 if errors else -1].strip()
