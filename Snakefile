# ggnbench: the DiagGGN study as a workflow.
#   snakemake --cores N                                  the paper study (config/config.yaml)
#   snakemake --cores 2 --configfile config/quick.yaml   the offline quick study
#   snakemake --profile profiles/slurm                   the same study on a Slurm cluster
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, f"{workflow.basedir}/src")

from ggnbench.workflow.configcheck import config_error, yaml_error  # noqa: E402


# A --configfile replaces the paper study instead of being merged into it.
if not workflow.overwrite_configfiles:
    # One line naming the file and line of a YAML syntax error (snakemake's own
    # message names neither).
    if problem := yaml_error(f"{workflow.basedir}/config/config.yaml"):
        sys.exit(problem)

    configfile: "config/config.yaml"


# One line naming the key on a bad config; then snakemake fills in the defaults.
SCHEMA = f"{workflow.basedir}/config/schema.yaml"
if problem := config_error(config, SCHEMA):
    sys.exit(problem)
validate(config, SCHEMA)


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/aggregate.smk"
include: "rules/bench.smk"


# Before any job is planned: results that an interruption or later damage left unusable
# are removed with what was derived from them, so that this run redoes exactly those (a
# dry run only lists them; ggnbench.workflow.repair).
if workflow.is_main_process:
    from ggnbench.workflow.repair import repair

    for line in repair(config, DEVICES, dry_run=workflow.output_settings.dryrun):
        print(f"ggnbench: {line}", file=sys.stderr)


# One workflow per results folder; the lock goes with the process, even on SIGKILL.
onstart:
    try:
        lock.acquire(RESULTS)
    except GGNBenchError as err:
        sys.exit(f"error: {err}")


# snakemake --report opens on the study's summary once it exists (rule report_summary).
report: os.path.abspath(SUMMARY) if os.path.exists(SUMMARY) else "rules/report/workflow.rst"


rule all:
    input:
        all_targets(),
    default_target: True


# A run ends with the study's results in a few lines and the path of its HTML report.
onsuccess:
    from ggnbench.report.report import at_end

    print(at_end(config, workflow.overwrite_configfiles or [], SCHEMA, succeeded=True))


onerror:
    from ggnbench.report.report import at_end

    print(at_end(config, workflow.overwrite_configfiles or [], SCHEMA, succeeded=False))
