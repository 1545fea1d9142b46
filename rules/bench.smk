# The backward-overhead benchmark: pytest-benchmark per device, then tables and figures.


rule bench_run:
    output:
        f"{RESULTS}/bench/{{device}}.json",
    log:
        f"{RESULTS}/logs/bench/{{device}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/bench/{{device}}.tsv"
    params:
        suite=f"{workflow.basedir}/bench",
        networks=",".join(benchsuite.networks(BENCH)),
        extensions=",".join(BENCH["extensions"]),
        batch_sizes=",".join(str(b) for b in BENCH["batch_sizes"]),
        regions=",".join(BENCH["regions"]),
        rounds=BENCH["rounds"],
        warmup=BENCH["warmup_rounds"],
    threads: BENCH["threads"]
    resources:
        gpu=gpu_jobs,
        gpu_slot=gpu_all_slots,
    conda:
        TRAIN_ENV
    shell:
        "ggnbench bench-suite --suite {params.suite} --out {output} --log {log} -- "
        "--bench-devices {wildcards.device} "
        "--bench-networks {params.networks} --bench-extensions {params.extensions} "
        "--bench-batch-sizes {params.batch_sizes} --bench-regions {params.regions} "
        "--bench-rounds {params.rounds} --bench-warmup {params.warmup} --bench-threads {threads}"


rule bench_tables:
    input:
        expand(f"{RESULTS}/bench/{{device}}.json", device=DEVICES),
    output:
        table_outputs("bench"),
    log:
        f"{RESULTS}/logs/bench/tables.log",
    params:
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench tables bench --json {input} --out {params.out} > {log} 2>&1 || failed {log}"


rule bench_figures:
    input:
        figure_inputs("bench"),
    output:
        figure_outputs("bench", "Benchmark"),
    log:
        f"{RESULTS}/logs/bench/figures.log",
    params:
        only=applicable(config, "bench"),
        tables=input_folder,
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench figures --bench --only {params.only} --tables {params.tables} "
        "--out {params.out} > {log} 2>&1 || failed {log}"


rule bench:
    input:
        bench_targets(),


# The end-to-end benchmark: a few steps and one evaluation per (problem, optimizer) on
# every data/evaluation path, interleaved; then the tables (ggnbench.workflow.epoch_cost).


rule epoch_bench_run:
    input:
        epoch_bench_data,
    output:
        f"{RESULTS}/bench/epoch/{{device}}.csv",
    log:
        f"{RESULTS}/logs/bench/epoch-{{device}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/bench/epoch-{{device}}.tsv"
    params:
        cases=lambda w: json.dumps(epoch_cost.plan(config, w.device)),
        repeats=EPOCH_BENCH["repeats"],
        paths=",".join(EPOCH_BENCH["paths"]),
    threads: EPOCH_BENCH["threads"]
    resources:
        gpu=gpu_jobs,
        gpu_slot=gpu_all_slots,
    conda:
        TRAIN_ENV
    shell:
        "ggnbench epoch-bench --cases {params.cases:q} --repeats {params.repeats} "
        "--paths {params.paths} --threads {threads} --out {output} > {log} 2>&1 || failed {log}"


rule epoch_bench_tables:
    input:
        expand(f"{RESULTS}/bench/epoch/{{device}}.csv", device=DEVICES),
    output:
        table_outputs("epoch"),
    log:
        f"{RESULTS}/logs/bench/epoch-tables.log",
    params:
        out=folder_of,
    conda:
        ANALYSIS_ENV
    shell:
        "ggnbench tables epoch --csv {input} --out {params.out} > {log} 2>&1 || failed {log}"


rule epoch_bench:
    input:
        epoch_bench_targets(),
