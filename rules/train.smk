# Training: tuning grid (one seed), choice of the best point, final seeds.


rule tune:
    input:
        dataset_ready,
    output:
        layout.fill(layout.MANIFEST, results=RESULTS, stage="tune"),
    log:
        layout.fill(layout.JOB_LOG, results=RESULTS, stage="tune"),
    benchmark:
        layout.fill(layout.JOB_BENCHMARK, results=RESULTS, stage="tune")
    params:
        runs=lambda w: json.dumps(
            chunks.chunk(config, "tune", w.problem, w.optimizer, w.device, int(w.chunk))
        ),
    threads: config["threads"]
    priority: job_priority
    resources:
        gpu=gpu_jobs,
        gpu_slot=gpu_slot,
    conda:
        TRAIN_ENV
    shell:
        "ggnbench sweep --runs {params.runs:q} --threads {threads} --manifest {output} > {log} 2>&1 || failed {log}"


# Choosing the best point is quick: it runs inside the snakemake process (and on the
# submitting host under a cluster executor) instead of paying a job's start-up.
localrules:
    select_best,


rule select_best:
    input:
        lambda w: [
            paths.manifest_path(config, "tune", w.problem, w.optimizer, w.device, i)
            for i in range(chunks.n_chunks(config, "tune", w.problem, w.optimizer))
        ],
    output:
        layout.fill(layout.BEST, results=RESULTS),
    log:
        layout.fill(layout.BEST_LOG, results=RESULTS),
    run:
        run_cli(["select-best", "--manifests", *input, "--out", output[0]], log[0])


rule final_seeds:
    input:
        data=dataset_ready,
        best=best_of,
    output:
        layout.fill(layout.MANIFEST, results=RESULTS, stage="final"),
    log:
        layout.fill(layout.JOB_LOG, results=RESULTS, stage="final"),
    benchmark:
        layout.fill(layout.JOB_BENCHMARK, results=RESULTS, stage="final")
    params:
        runs=lambda w: json.dumps(
            chunks.chunk(config, "final", w.problem, w.optimizer, w.device, int(w.chunk))
        ),
        best=lambda w, input: f"--best {input.best}" if input.best else "",
    threads: config["threads"]
    priority: job_priority
    resources:
        gpu=gpu_jobs,
        gpu_slot=gpu_slot,
    conda:
        TRAIN_ENV
    shell:
        "ggnbench sweep --runs {params.runs:q} {params.best} --threads {threads} "
        "--manifest {output} > {log} 2>&1 || failed {log}"


rule seed_example_run:
    input:
        seed_example_data(),
    output:
        f"{RESULTS}/seed_example/{{variant}}/run.json",
    log:
        f"{RESULTS}/logs/seed_example/{{variant}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/seed_example/{{variant}}.tsv"
    params:
        lr=lookup(dpath="seed_example/variants/{variant}/lr", within=config),
        damping=lookup(dpath="seed_example/variants/{variant}/damping", within=config),
        keep=branch(
            lookup(dpath="seed_example/variants/{variant}/keep_grad", within=config),
            then="--keep-grad",
            otherwise="",
        ),
        steps=lookup(dpath="seed_example/steps", within=config),
        seed=lookup(dpath="seed_example/seed", within=config),
        root=lambda w: seed_example_root(),  # the folder the data of either kind is in
        out=folder_of,
    threads: config["threads"]
    conda:
        TRAIN_ENV
    shell:
        "ggnbench train --problem mnist_cnn --optimizer diag_ggn_mc --lr {params.lr} "
        "--damping {params.damping} {params.keep} --seed {params.seed} "
        "--steps {params.steps} "
        "--eval-every 0 --device cpu --threads {threads} --data-root {params.root} "
        "--no-download --out {params.out} > {log} 2>&1 || failed {log}"


rule tuning:
    input:
        tuning_targets(),


rule final:
    input:
        final_targets(),
