"""The defaults of one run, in one place.

``RunConfig``, the ``ggnbench train`` options and the data loaders take their defaults
from here; ``config/schema.yaml`` fills the same values into a study configuration, and a
test checks that the two agree. A named option's default is its name, a plain string: the
modules declaring the options' enumerations import this one, and turn it into the member.
"""

from __future__ import annotations

#: Evaluate once per pass over the training set (as DeepOBS does); an integer K means
#: every K steps, 0 only at the end.
EVAL_EVERY: int | str = "epoch"
#: Batch size of the evaluation passes (valid, test, train_eval).
EVAL_BATCH_SIZE = 1000
#: Validation holdout: each problem's fixed permutation (``per_seed``: drawn with the seed).
HOLDOUT = "fixed"
#: Evaluation protocol: ``ggnbench`` (every example, a fixed train-eval subset) or
#: ``deepobs`` (DeepOBS's loaders: training batch size, last partial batch dropped,
#: train-eval drawn afresh from the whole training split at every evaluation).
EVALUATION = "ggnbench"
#: How batches are made: ``tensor`` (each split without augmentation held as one tensor,
#: bitwise the batches of the PIL path) or ``pil`` (torchvision's per-image transforms).
DATA_PATH = "tensor"
#: How evaluation runs: ``fast`` (inference mode, passes of the device's best size, a
#: frozen network on a CPU, metrics summed on the device) or ``exact`` (the per-batch path).
EVAL_PATH = "fast"
#: Examples per forward pass of the fast evaluation path on a CPU (a GPU takes the
#: evaluation batch size): fmnist_2c2d's network runs 0.63 ms an image at 128, 0.97 at 896.
CPU_EVAL_BATCH_SIZE = 128
#: Seed set before data and model are built.
SEED = 0
#: Device of a run.
DEVICE = "cpu"
#: Largest dense ``[D, D]`` curvature matrix a recursive curvature (KFRA) may backpropagate
#: through one layer output before a run is refused (``allow_large_curvature`` overrides).
DENSE_CURVATURE_LIMIT_BYTES = 256 * 2**20
#: Decay of the ``ema`` curvature average.
CURVATURE_BETA = 0.95
#: How many of a run's float64 eigendecomposition retries ``run.json`` lists one by one
#: (all are counted).
RETRIES_RECORDED = 20
#: Least seconds between two progress lines in a job's log (a terminal gets a live bar).
PROGRESS_EVERY_S = 30.0
#: Seconds without a progress line after which a log gets a heartbeat line.
HEARTBEAT_S = 120.0
#: A CPU run notes once per process, on stderr, when its torch threads exceed the machine's
#: free cores (the cores it may run on less the one-minute load average, rounded to whole
#: cores and never counted below ``MIN_FREE_CORES``) by more than ``SPARE_THREADS``.
MIN_FREE_CORES = 1
SPARE_THREADS = 0
