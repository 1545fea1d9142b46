#!/usr/bin/env bash
# A GPU machine's checks and measurements, in one go (make cuda-check runs it with the venv).
#
# Usage: bench/cuda_check.sh OUT_DIR [PYTHON]
#
# Parts, in this order, each under its own time limit (seconds, from the environment),
# each run whatever became of the one before; the script exits 1 if any part failed or
# ran out of time, and OUT_DIR/parts.txt says which:
#   tests   (TESTS_S=300)  the CUDA tests -> cuda_tests.log
#   race    (RACE_S=180)   forward+backward of both GGN backends, batch 128 -> cuda.json,
#                          bench_overhead, bench_memory, bench_backend_race
#   share   (SHARE_S=300)  1, 2, 4 and 8 runs of the Fashion-MNIST panel sharing the GPU:
#                          throughput and device busy time against wall time per step
#                          (bench/gpu_share.py) -> gpu_share/ (SHARE_JOBS, SHARE_SECONDS,
#                          SHARE_OPTIMIZERS)
#   epoch   (EPOCH_S=600)  the panel's end-to-end cost, pil/exact against tensor/fast ->
#                          epoch_cost, epoch_speedup, epoch_panel (EPOCH_STEPS, EPOCH_REPEATS)
# The panel reads Fashion-MNIST from DATA_ROOT (data) or Debian's package; without either
# it writes synthetic data of the same format and sizes there (same cost, not the same
# pixels). DEVICE=cpu runs the same parts on the CPU (the CUDA tests then all skip).
set -uo pipefail
out=${1:?usage: bench/cuda_check.sh OUT_DIR [PYTHON]}
py=${2:-python3}
device=${DEVICE:-cuda}
data=${DATA_ROOT:-data}
cd "$(dirname "$0")/.."
mkdir -p "$out"
: > "$out/parts.txt"
"$py" -c "import backpack, snakemake, ggnbench.cli" 2> /dev/null || {
    echo "error: $py cannot import backpack, snakemake and ggnbench; run make setup first" >&2
    exit 1
}
if [ "$device" = cuda ]; then
    "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
'error: torch sees no CUDA device; run this on a machine with a GPU (or DEVICE=cpu)')" || exit 1
fi

# part NAME LIMIT_S COMMAND...: run one part under its limit and record how it ended.
part() {
    local name=$1 limit=$2 start rc
    shift 2
    echo "== $name (at most ${limit} s)"
    start=$SECONDS
    timeout --kill-after=10 "$limit" bash -o pipefail -c "$*"
    rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status="out of time" ;;
        *) status="failed (exit $rc)" ;;
    esac
    echo "$name: $status after $((SECONDS - start)) s" | tee -a "$out/parts.txt"
}

machine() {
    "$py" - <<'PY'
import os, platform, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "python", platform.python_version(),
      "cpus", os.cpu_count())
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    print("gpu", props.name, "capability", f"{props.major}.{props.minor}",
          "memory_gib", round(props.total_memory / 2**30, 1),
          "multiprocessors", props.multi_processor_count)
PY
    if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit \
            --format=csv
    fi
}

tests() {
    "$py" -m pytest -m cuda -p no:cacheprovider -q -rs --durations=5 tests/test_ggn.py \
        tests/test_optim.py tests/test_train.py tests/test_memory.py tests/test_plugins.py \
        tests/test_tensordata.py tests/test_kfac.py 2>&1 | tee "$out/cuda_tests.log"
}

race() {
    "$py" -m pytest bench/ -p no:cacheprovider -q -k "forward_backward or race" \
        --bench-devices "$device" --bench-networks mnist_cnn,cifar10_3c3d \
        --bench-batch-sizes 128 \
        --bench-extensions none,DiagGGNMC,DiagGGNMC-native,DiagGGNExact,DiagGGNExact-native \
        --benchmark-json "$out/$device.json" 2>&1 | tail -n 3
    "$py" -m ggnbench.cli tables bench --json "$out/$device.json" --out "$out" || return 1
    "$py" - "$out" <<'PY'
import sys
import pandas as pd
pd.set_option("display.width", 200)
race = pd.read_csv(f"{sys.argv[1]}/bench_backend_race.csv")
print(race[["network", "extension", "none_ms", "backpack_ms", "native_ms", "ratio", "ratio_q1",
            "ratio_q3", "goal", "memory_ratio"]].to_string(index=False))
PY
}

share() {
    "$py" bench/gpu_share.py --device "$device" --jobs "${SHARE_JOBS:-1,2,4,8}" \
        --seconds "${SHARE_SECONDS:-3}" --optimizers "${SHARE_OPTIMIZERS:-sgd,diag_ggn_mc}" \
        --data-root "$data" --out "$out/gpu_share"
}

epoch() {
    cp config/fmnist.yaml "$out/panel.yaml"
    sed -i "s|^data_root: .*|data_root: $data|; s|^download: .*|download: false|" \
        "$out/panel.yaml"
    if [ -n "${EPOCH_STEPS:-}" ]; then   # the epoch_bench section's steps (the only indented one)
        sed -i "s|^  steps: .*|  steps: $EPOCH_STEPS|" "$out/panel.yaml"
    fi
    "$py" -m ggnbench.cli epoch-bench --configfile "$out/panel.yaml" --device "$device" \
        --repeats "${EPOCH_REPEATS:-3}" --threads 1 --out "$out/epoch_$device.csv" || return 1
    "$py" -m ggnbench.cli tables epoch --csv "$out/epoch_$device.csv" --out "$out" || return 1
    cat "$out/epoch_speedup.md" "$out/epoch_panel.md"
}

export out py device data
export -f tests race share epoch
machine | tee "$out/machine.txt"
if ! "$py" -m ggnbench.cli download fmnist --data-root "$data" --no-download > /dev/null 2>&1; then
    echo "== no Fashion-MNIST at $data: synthetic data of its format and sizes instead"
    "$py" -m ggnbench.cli synth-mnist --data-root "$data" --folder FashionMNIST
fi
part tests "${TESTS_S:-300}" tests
part race "${RACE_S:-180}" race
part share "${SHARE_S:-300}" share
part epoch "${EPOCH_S:-600}" epoch
echo "== parts"
cat "$out/parts.txt"
! grep -qv ": ok after" "$out/parts.txt"
