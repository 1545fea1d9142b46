"""The ``ggnbench`` command line: thin wrappers around the library.

Every user-facing failure is a :class:`~ggnbench.errors.GGNBenchError`, printed as
one line ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import ggnbench
from ggnbench.errors import GGNBenchError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Returns:
        The parser.
    """
    from ggnbench.commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="ggnbench",
        description="Reproduce and benchmark the BackPACK diagonal Gauss-Newton optimizer.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {ggnbench.__version__} from {Path(ggnbench.__file__).parent}",
        help="print the version of ggnbench and the folder it runs from, then exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point.

    Args:
        argv: Arguments; ``sys.argv[1:]`` if None.

    Returns:
        Exit status: 0 on success, 2 on a user-facing error.
    """
    from ggnbench.commands.common import data_context
    from ggnbench.workload.sources import MissingData

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MissingData as err:  # the ways to get the data that work for this command
        print(f"error: {err.message(data_context(args))}", file=sys.stderr)
        return 2
    except GGNBenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        # A full disk or a folder that became unwritable: name the file and the cause.
        where = f" on {err.filename}" if err.filename else ""
        print(
            f"error: file system error{where}: {err.strerror or err}; free some space or "
            "choose a writable folder, then rerun the same command (nothing half-written "
            "was kept)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to start this run again", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
