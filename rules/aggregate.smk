# Aggregation (reads results, writes tables) and figures (reads tables, writes figures).


rule aggregate:
    input:
        tune=chunks.manifests(config, DEVICES, "tune"),
        final=chunks.manifests(config, DEVICES, "final"),
        best=tuning_targets(),
    output:
        table_outputs("study"),
    log:
        f"{RESULTS}/logs/aggregate.log",
    params:
        targets=json.dumps(
            {
                p: v["target_accuracy"]
                for p, v in config["problems"].items()
                if "target_accuracy" in v
            }
        ),
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench tables study --tune {input.tune} --final {input.final} "
        "--targets {params.targets:q} --out {params.out} > {log} 2>&1 || failed {log}"


rule figures_study:
    input:
        figure_inputs("study"),
    output:
        figure_outputs("study", "Figures"),
    log:
        f"{RESULTS}/logs/figures.log",
    params:
        only=applicable(config, "study"),
        tables=input_folder,
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench figures --only {params.only} --tables {params.tables} --out {params.out} "
        "> {log} 2>&1 || failed {log}"


rule paper_tables:
    input:
        f"{RESULTS}/tables/final_metrics.csv",
        f"{RESULTS}/tables/curves.csv",
        f"{RESULTS}/tables/runs.csv",
    output:
        table_outputs("paper"),
    log:
        f"{RESULTS}/logs/paper/tables.log",
    params:
        tables=input_folder,
        tolerance=json.dumps(config["paper_band_tolerance"]),
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench tables paper --tables {params.tables} --tolerance {params.tolerance:q} "
        "--out {params.out} > {log} 2>&1 || failed {log}"


rule paper_figures:
    input:
        figure_inputs("paper"),
    output:
        figure_outputs("paper", "The paper"),
    log:
        f"{RESULTS}/logs/paper/figures.log",
    params:
        only=applicable(config, "paper"),
        tables=input_folder,
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench figures --paper --only {params.only} --tables {params.tables} "
        "--out {params.out} > {log} 2>&1 || failed {log}"


rule seed_example_table:
    input:
        expand(f"{RESULTS}/seed_example/{{variant}}/run.json", variant=SEED_EXAMPLE["variants"]),
    output:
        table_outputs("seed-example"),
    log:
        f"{RESULTS}/logs/seed_example/table.log",
    params:
        runs=" ".join(f"{v}={RESULTS}/seed_example/{v}" for v in SEED_EXAMPLE["variants"]),
        published=json.dumps(SEED_EXAMPLE["published"]),
        label="MNIST" if SEED_EXAMPLE["data"] == "mnist" else "synthetic MNIST-format data",
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench tables seed-example --run {params.runs} --published {params.published:q} "
        "--data-label {params.label:q} --out {params.out} > {log} 2>&1 || failed {log}"


rule seed_example_figure:
    input:
        figure_inputs("seed_example"),
    output:
        figure_outputs("seed_example", "Reference example"),
    log:
        f"{RESULTS}/logs/seed_example/figure.log",
    params:
        only=applicable(config, "seed_example"),
        tables=input_folder,
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench figures --seed-example --only {params.only} --tables {params.tables} "
        "--out {params.out} > {log} 2>&1 || failed {log}"


rule evidence:
    input:
        runs=f"{RESULTS}/tables/runs.csv",
        seed_example=[f"{folder}/run.json" for folder in seed_example_runs()],
        benchmarks=[path for _, path in benchmark_files()],
    output:
        table_outputs("evidence"),
    log:
        f"{RESULTS}/logs/evidence.log",
    params:
        config=json.dumps(config),
        runs=seed_example_runs(),
        benchmarks=[f"{rule}={path}" for rule, path in benchmark_files()],
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench tables evidence --config {params.config:q} --runs-table {input.runs} "
        "--run {params.runs} --benchmark {params.benchmarks} --out {params.out} > {log} 2>&1 || failed {log}"


rule report_summary:
    input:
        [path for path in all_targets() if path != SUMMARY],
    output:
        rst=SUMMARY,
        text=SUMMARY_TEXT,
    log:
        f"{RESULTS}/logs/summary.log",
    params:
        config=json.dumps(config),
        tables=input_folder,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench summary --tables {params.tables} --config {params.config:q} --out {output.rst} "
        "> {log} 2>&1 || failed {log}"


# What has run, whatever is missing: snakemake --report results/report.html report_targets
# (make report) reports the tables and figures that exist, with the jobs that made them
# (the summary is the report's opening page, not one of its results).
rule report_targets:
    input:
        [path for path in all_targets() if path != SUMMARY and Path(path).exists()],


rule tables:
    input:
        table_targets(),


rule figures:
    input:
        figure_targets(),


rule seed_example:
    input:
        seed_example_targets(),
