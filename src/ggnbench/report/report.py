"""The HTML report of what a study has run, whatever is missing (``ggnbench report``).

Writes the summary from the tables that exist (:mod:`ggnbench.report.summary`, which names what is
missing), then runs ``snakemake --report`` on the target ``report_targets`` (the tables and
figures that exist, with the jobs that made them), its output into a log.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from ggnbench import CHECKOUT
from ggnbench.errors import GGNBenchError
from ggnbench.report import summary
from ggnbench.workflow.configcheck import load_study

#: The report's stylesheet: the results page at full width, above the workflow's graph.
STYLESHEET = CHECKOUT / "rules" / "report" / "style.css"


def make(
    configfile: str | Path, out: str | Path | None, schema: str | Path, results: str | None = None
) -> str:
    """Write the summary and the HTML report of a study.

    Args:
        configfile: The study config.
        out: The HTML file; ``RESULTS/report.html`` if None.
        schema: The config schema.
        results: The results folder, when a run overrode the config's
            (``--config results=DIR``); None: the config's.

    Returns:
        The results in a few lines, the report's path last.

    Raises:
        GGNBenchError: If snakemake could not write the report (its error and the log).
    """
    config = load_study(configfile, schema)
    override = [] if results is None else ["--config", f"results={results}"]
    if results is not None:
        config["results"] = results
    results = Path(config["results"])
    out = Path(out) if out is not None else results / "report.html"
    summary.write(results / "tables", config, results / "report" / "summary.rst")
    log = results / "logs" / "report.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # The target first: --configfile takes every argument after it.
    snakefile = str(CHECKOUT / "Snakefile")
    command = [sys.executable, "-m", "snakemake", "report_targets", "--snakefile", snakefile,
               "--report", str(out), "--report-stylesheet", str(STYLESHEET),
               "--configfile", str(configfile), *override]  # fmt: skip
    with open(log, "w") as stream:
        code = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT).returncode
    if code != 0 or not out.exists():
        raise GGNBenchError(f"snakemake --report failed: {first_error(log)} (log: {log})")
    return summary.render_text(results / "tables", out)


def at_end(
    config: dict[str, Any], configfiles: list[str | Path], schema: str | Path, succeeded: bool
) -> str:
    """What a workflow run prints when it ends: the results and the report, or what to do.

    After a successful run that made the study's summary, the report is written (with one
    config file, or the default one; several are merged by snakemake and cannot be handed
    on, so the command is named instead).

    Args:
        config: The workflow's configuration.
        configfiles: The ``--configfile`` arguments (none: ``config/config.yaml``).
        schema: The config schema.
        succeeded: Whether every job succeeded.

    Returns:
        Lines for the terminal.
    """
    results = Path(config["results"])
    configfile = Path(configfiles[0]) if configfiles else CHECKOUT / "config" / "config.yaml"
    command = f"ggnbench report --configfile {configfile} (make report CONFIG={configfile})"
    if not succeeded:
        return (f"ggnbench: a job failed (its log is named above); the other jobs' results are "
                f"kept. The report of what ran: {command}")  # fmt: skip
    if not (results / "report" / "summary.rst").exists():
        return ""
    if len(configfiles) > 1:
        return f"{summary.render_text(results / 'tables')}\nthe HTML report: {command}"
    try:
        return make(configfile, None, schema, results=str(results))
    except (GGNBenchError, OSError) as err:  # the run's results stand; only the report is missing
        return f"ggnbench: the report was not written: {err}; {command} writes it"


def first_error(log: Path) -> str:
    """Snakemake's first error in a log, with its message where it follows on the next line.

    Args:
        log: The log file.

    Returns:
        One line.
    """
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "error" in line.lower():
            following = lines[i + 1] if line.endswith(":") and i + 1 < len(lines) else ""
            return f"{line} {following}".strip()
    return lines[-1] if lines else "no output"
