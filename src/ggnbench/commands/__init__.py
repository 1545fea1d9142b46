"""Every ``ggnbench`` subcommand, one module per group: :data:`COMMANDS` is their registry.

Each subcommand has an ``add_*`` function that declares its parser and a ``cmd_*`` function
that runs it (importing the heavy modules it needs when it runs): :mod:`.train` one run,
:mod:`.data` the datasets, :mod:`.study` the workflow's steps, :mod:`.report` the tables,
figures and report; :mod:`.common` holds what they share. ``cli.main`` parses and reports
errors.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ggnbench.commands.data import add_download, add_synth_mnist
from ggnbench.commands.report import add_figures, add_report, add_summary, add_tables
from ggnbench.commands.study import (
    add_bench_suite,
    add_check_config,
    add_epoch_bench,
    add_select_best,
    add_sweep,
)
from ggnbench.commands.train import add_train

#: Every ``ggnbench`` subcommand: its name and the function that adds its parser, in the
#: order ``ggnbench --help`` lists them. The one registry of the command line;
#: ``cli.build_parser`` walks it.
COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "train": add_train,
    "download": add_download,
    "synth-mnist": add_synth_mnist,
    "check-config": add_check_config,
    "sweep": add_sweep,
    "epoch-bench": add_epoch_bench,
    "select-best": add_select_best,
    "tables": add_tables,
    "figures": add_figures,
    "summary": add_summary,
    "bench-suite": add_bench_suite,
    "report": add_report,
}
