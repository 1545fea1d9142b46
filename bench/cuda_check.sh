#!/usr/bin/env bash
# The CUDA tests and the CUDA benchmark of both GGN backends, in one go, on a GPU machine.
#
# Usage: bench/cuda_check.sh OUT_DIR [PYTHON]     (make cuda-check runs it with the venv)
# Writes OUT_DIR/cuda_tests.log, OUT_DIR/cuda.json (pytest-benchmark) and the benchmark
# tables (bench_overhead, bench_memory, bench_optimizer_step, bench_backend_race), then
# the end-to-end cost of the Fashion-MNIST panel (epoch_cost, epoch_speedup, epoch_panel)
# and its throughput with 1, 2, 4 and 8 runs sharing the GPU (gpu_share/). The panel reads
# Fashion-MNIST from DATA_ROOT (data) or Debian's package; without either it writes
# synthetic data of the same format and sizes there (same cost, not the same pixels).
# DEVICE=cpu runs the same steps on the CPU (the CUDA tests then all skip); SHARE_JOBS,
# SHARE_STEPS, SHARE_ROUNDS, EPOCH_STEPS and EPOCH_REPEATS size the last two parts.
set -euo pipefail
out=${1:?usage: bench/cuda_check.sh OUT_DIR [PYTHON]}
py=${2:-python3}
device=${DEVICE:-cuda}
cd "$(dirname "$0")/.."
mkdir -p "$out"
if [ "$device" = cuda ]; then
    "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else \
'error: torch sees no CUDA device; run this on a machine with a GPU (or DEVICE=cpu)')"
fi
"$py" - <<'PY' | tee "$out/machine.txt"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "threads", torch.get_num_threads())
if torch.cuda.is_available():
    print("gpu", torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0))
PY
echo "== CUDA tests" | tee "$out/cuda_tests.log"
"$py" -m pytest -m cuda -p no:cacheprovider -q -rs tests/test_ggn.py tests/test_optim.py \
    tests/test_train.py tests/test_memory.py tests/test_plugins.py tests/test_tensordata.py \
    tests/test_kfac.py 2>&1 | tee -a "$out/cuda_tests.log"
echo "== benchmark: forward+backward and the backend race, batch 128, $device"
"$py" -m pytest bench/ -p no:cacheprovider -q -k "forward_backward or race" \
    --bench-devices "$device" --bench-networks mnist_cnn,cifar10_3c3d --bench-batch-sizes 128 \
    --bench-extensions none,DiagGGNMC,DiagGGNMC-native,DiagGGNExact,DiagGGNExact-native \
    --benchmark-json "$out/$device.json" 2>&1 | tail -n 3
"$py" -m ggnbench.cli tables bench --json "$out/$device.json" --out "$out"
"$py" - "$out" <<'PY'
import sys
import pandas as pd
pd.set_option("display.width", 200)
race = pd.read_csv(f"{sys.argv[1]}/bench_backend_race.csv")
print(race[["network", "extension", "none_ms", "backpack_ms", "native_ms", "ratio", "ratio_q1",
            "ratio_q3", "goal", "memory_ratio"]].to_string(index=False))
PY
data=${DATA_ROOT:-data}
if ! "$py" -m ggnbench.cli download fmnist --data-root "$data" --no-download > /dev/null 2>&1; then
    echo "== no Fashion-MNIST at $data: synthetic data of its format and sizes instead"
    "$py" -m ggnbench.cli synth-mnist --data-root "$data" --folder FashionMNIST
fi
echo "== end-to-end: the Fashion-MNIST panel, $device, pil/exact vs tensor/fast"
cp config/fmnist.yaml "$out/panel.yaml"
sed -i "s|^data_root: .*|data_root: $data|; s|^download: .*|download: false|" "$out/panel.yaml"
if [ -n "${EPOCH_STEPS:-}" ]; then   # the epoch_bench section's steps (the only indented 'steps:')
    sed -i "s|^  steps: .*|  steps: $EPOCH_STEPS|" "$out/panel.yaml"
fi
"$py" -m ggnbench.cli epoch-bench --configfile "$out/panel.yaml" --device "$device" \
    --repeats "${EPOCH_REPEATS:-3}" --threads 1 --out "$out/epoch_$device.csv"
"$py" -m ggnbench.cli tables epoch --csv "$out/epoch_$device.csv" --out "$out"
cat "$out/epoch_speedup.md" "$out/epoch_panel.md"
echo "== several runs sharing the $device: the panel's runs, 1, 2, 4 and 8 at once"
"$py" bench/gpu_share.py --device "$device" --jobs "${SHARE_JOBS:-1,2,4,8}" \
    --steps "${SHARE_STEPS:-200}" --rounds "${SHARE_ROUNDS:-2}" --data-root "$data" \
    --out "$out/gpu_share"
