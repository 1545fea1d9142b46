# Datasets: one download job per dataset, before any training job needs it.


rule download:
    output:
        f"{RESULTS}/data/{{dataset}}.ready",
    log:
        f"{RESULTS}/logs/download/{{dataset}}.log",
    params:
        root=config["data_root"],
        flag="" if config["download"] else "--no-download",
    shell:
        f"{GGNBENCH} download {{wildcards.dataset}} --data-root {{params.root}} {{params.flag}} "
        f"--done {{output}} {ON_FAIL}"


rule synthetic_mnist:
    output:
        f"{RESULTS}/seed_example/data/MNIST.ready",
    log:
        f"{RESULTS}/logs/seed_example/synthetic_mnist.log",
    params:
        root=f"{RESULTS}/seed_example/data",
        n_train=SEED_EXAMPLE["synthetic_train_size"],
    shell:
        f"{GGNBENCH} synth-mnist --data-root {{params.root}} --n-train {{params.n_train}} "
        f"--n-test 2000 {ON_FAIL} && touch {{output}}"
