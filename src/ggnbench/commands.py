"""Subcommands beyond ``train`` and ``download``: workflow steps and aggregation."""

from __future__ import annotations

import argparse


def add_all(sub: argparse._SubParsersAction) -> None:
    """Register the workflow subcommands.

    Args:
        sub: The subparsers of the main parser.
    """
