"""Where a study's training files go: one template per kind of file.

Each template names its parts in braces. :func:`fill` gives a concrete path when every part
is given (what :mod:`ggnbench.workflow.paths` computes) and a Snakemake pattern when some are left
out: those stay as ``{wildcards}`` (what ``rules/train.smk`` declares as outputs). So a
path is written once, and the workflow's patterns cannot drift from the files the study
code looks for.
"""

from __future__ import annotations

from string import Formatter
from typing import Any

#: One training job's key: a chunk of the runs of one (problem, optimizer, device), in
#: its stage (``tune`` or ``final``).
_JOB = "{stage}/{problem}/{optimizer}/device={device}/chunk={chunk}"
#: One (problem, optimizer, device).
_COMBO = "{problem}/{optimizer}/device={device}"

#: A training job's manifest: the runs it finished.
MANIFEST = f"{{results}}/manifests/{_JOB}.json"
#: A training job's log.
JOB_LOG = f"{{results}}/logs/{_JOB}.log"
#: A training job's resource record (Snakemake's ``benchmark``).
JOB_BENCHMARK = f"{{results}}/benchmarks/{_JOB}.tsv"
#: The tuning's choice for one (problem, optimizer, device).
BEST = f"{{results}}/tuning/{_COMBO}/best.json"
#: The log of that choice.
BEST_LOG = f"{{results}}/logs/select_best/{_COMBO}.log"
#: One run's folder; ``point`` is the grid point's folders (``lr=…[/axis=…]``) or ``best``.
RUN = "{results}/runs/{problem}/{optimizer}/{point}/device={device}/seed={seed}"


def parts(template: str) -> list[str]:
    """The names of a template's parts, in order.

    Args:
        template: One of this module's templates.

    Returns:
        The names.
    """
    return [name for _, name, _, _ in Formatter().parse(template) if name]


def fill(template: str, **values: Any) -> str:
    """A template with some or all of its parts filled in.

    Args:
        template: One of this module's templates.
        **values: Parts to fill; the others stay as ``{name}`` (a Snakemake wildcard).

    Returns:
        The path or pattern.

    Raises:
        KeyError: If a value names no part of the template.
    """
    names = parts(template)
    unknown = set(values) - set(names)
    if unknown:
        raise KeyError(f"{sorted(unknown)} are not parts of {template!r}")
    return template.format(**{name: values.get(name, "{" + name + "}") for name in names})
