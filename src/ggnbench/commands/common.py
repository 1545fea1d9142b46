"""What the subcommands share: registry names in a help text, the schema, the data context.

:func:`names` lists a registry's names for a help text or a message; :data:`SCHEMA` is the
study configs' schema, the default of every ``--schema``; :func:`data_context` says who
reads a command's missing-data message (``cli.main`` reports it).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from ggnbench import CHECKOUT


def names(registry: Iterable[str], last: str = "or") -> str:
    """A registry's names as a list for a help text or a message: ``a, b or c``.

    Args:
        registry: The registry (its keys) or a tuple of names.
        last: The word before the last name.

    Returns:
        The names in registry order.
    """
    listed = list(registry)
    if len(listed) < 2:
        return "".join(listed)
    return f"{', '.join(listed[:-1])} {last} {listed[-1]}"


#: The schema of the study configs.
SCHEMA = CHECKOUT / "config" / "schema.yaml"


def data_context(args: argparse.Namespace) -> str:
    """Who reads a command's missing-data message (:data:`missing_hints.CONTEXTS`).

    ``ggnbench download`` takes ``--from``; with ``--done`` it is the workflow's download
    job. ``sweep`` is a workflow job, and so is ``epoch-bench --cases`` (its ``--configfile``
    form is run by hand, as ``train`` is): their reader reruns the workflow.

    Args:
        args: The parsed command line.

    Returns:
        ``download``, ``train`` or ``workflow``.
    """
    if args.command == "download":
        return "workflow" if args.done is not None else "download"
    if args.command == "sweep" or (args.command == "epoch-bench" and args.cases is not None):
        return "workflow"
    return "train"
