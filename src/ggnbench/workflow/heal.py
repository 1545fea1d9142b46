"""Find what an interruption or damage left unusable, so that a rerun redoes exactly that.

A workflow job records the runs it finished in a chunk manifest. Snakemake reruns a
job only when one of its outputs is missing and still needed, so a run folder that was
deleted or damaged after its job finished would otherwise block the study for good, or
be silently left in the tables. :func:`heal` checks every result file the workflow
would otherwise trust; each stale one is removed together with the files derived from
it (``best.json``, the runs table), so that Snakemake reruns the job that writes it and
everything downstream. The rerun jobs skip every run that is still intact.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ggnbench.run import results


def manifest_problem(path: Path) -> str | None:
    """Why a chunk manifest cannot be trusted: it is garbled or lists an unusable run.

    Args:
        path: The manifest.

    Returns:
        The reason, or None.
    """
    try:
        entries = json.loads(path.read_text())["runs"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return "not a valid manifest"
    for entry in entries:
        if entry.get("status") == "no_best":
            continue
        problem = results.run_damage(entry["out"])
        if problem is not None:
            return f"run {entry['out']}: {problem}"
    return None


def json_problem(path: Path) -> str | None:
    """Why a JSON file (``best.json``) cannot be trusted.

    Args:
        path: The file.

    Returns:
        The reason, or None.
    """
    try:
        json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "not valid JSON"
    return None


def run_problem(path: Path) -> str | None:
    """Why the run folder holding ``path`` (its ``run.json``) cannot be trusted.

    Args:
        path: The ``run.json`` of a run that is itself a workflow output.

    Returns:
        The reason, or None.
    """
    return results.run_damage(path.parent)


@dataclass
class Check:
    """One result file to check before the workflow builds its jobs.

    Attributes:
        path: The file; a check of a file that does not exist passes.
        problem: Returns why the file cannot be trusted, or None.
        derived: Files made from it, removed along with it.
        lost_if_missing: The file is a job's own output (a reference-example run), so
            its absence while something derived from it exists means it was lost after
            use. Otherwise a missing file is work not yet done (or another study's).
    """

    path: str
    problem: Callable[[Path], str | None]
    derived: list[str] = field(default_factory=list)
    lost_if_missing: bool = False


def heal(checks: list[Check], remove: bool = True) -> list[str]:
    """Remove every stale result file and the files derived from it.

    Args:
        checks: What to check.
        remove: Remove the files (False: only report, as for a dry run).

    Returns:
        One message per stale file.
    """
    messages: list[str] = []
    for check in checks:
        path = Path(check.path)
        if path.exists():
            reason = check.problem(path)
        elif check.lost_if_missing and any(Path(d).exists() for d in check.derived):
            reason = "missing"
        else:
            continue
        if reason is None:
            continue
        messages.append(f"{'redoing' if remove else 'would redo'} {path} ({reason})")
        if remove:
            for stale in (path, *map(Path, check.derived)):
                stale.unlink(missing_ok=True)
    return messages
