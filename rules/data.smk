# Datasets: one download job per dataset, before any training job needs it.


rule download:
    output:
        f"{RESULTS}/data/{{dataset}}.ready",
    log:
        f"{RESULTS}/logs/download/{{dataset}}.log",
    params:
        root=config["data_root"],
        flag="" if config["download"] else "--no-download",
    conda:
        TRAIN_ENV
    shell:
        "ggnbench download {wildcards.dataset} --data-root {params.root} {params.flag} "
        "--done {output} > {log} 2>&1 || failed {log}"


rule synthetic_mnist:
    output:
        f"{RESULTS}/seed_example/data/MNIST.ready",
    log:
        f"{RESULTS}/logs/seed_example/synthetic_mnist.log",
    params:
        root=folder_of,
        n_train=SEED_EXAMPLE["synthetic_train_size"],
        n_test=SEED_EXAMPLE["synthetic_test_size"],
    conda:
        TRAIN_ENV
    shell:
        "ggnbench synth-mnist --data-root {params.root} --n-train {params.n_train} "
        "--n-test {params.n_test} > {log} 2>&1 || failed {log}; touch {output}"
