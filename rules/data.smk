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
        f"{GGNBENCH} download {{wildcards.dataset}} --data-root {{params.root}} {{params.flag}} "
        f"--done {{output}} {ON_FAIL}"


rule synthetic_mnist:
    output:
        f"{RESULTS}/seed_example/data/MNIST.ready",
    log:
        f"{RESULTS}/logs/seed_example/synthetic_mnist.log",
    params:
        root=lambda w, output: str(Path(output[0]).parent),
        n_train=SEED_EXAMPLE["synthetic_train_size"],
        n_test=SEED_EXAMPLE["synthetic_test_size"],
    conda:
        TRAIN_ENV
    shell:
        f"{GGNBENCH} synth-mnist --data-root {{params.root}} --n-train {{params.n_train}} "
        f"--n-test {{params.n_test}} {ON_FAIL} && touch {{output}}"
