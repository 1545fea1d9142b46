"""The paper's optimizers run from the paper's own code: the reference of the trace tests.

``tests/bpoptim/`` is the ``bpoptim`` package of the paper's anonymous submission
repository (``toiaydcdyywlhzvlob/backpack``, ``libraries/backpack-optim/bpoptim/``), every
file as it is there (:data:`BLOBS`: their git blob ids, checked by a test). It was written
for BackPACK 1.0 and torch 1.x; three things it uses no longer exist, and are put back here
without touching its files:

- ``backpack.extensions.secondorder.utils`` (``multiply_vec_with_kron_facs``) and
  ``backpack.utils.utils`` (``einsum``): BackPACK 1.0.0's own two modules,
  ``tests/backpack_1_0_0/``, also as they are there (``BLOBS``), registered under their old
  names. The second imports ``opt_einsum`` only for a choice it does not make by default
  (``BPEXTS_EINSUM = "torch"``); an empty module stands in while it loads.
- ``Tensor.symeig(eigenvectors=True)``: torch 1.x's eigendecomposition of the upper
  triangle (``upper=True`` was its default); today's ``torch.linalg.eigh(A, UPLO='U')``
  reads the same triangle. It is patched in only while :func:`bpoptim_trace` runs.

The training loop around the optimizer is the paper runner's (``BPOptimRunner``: L2 groups
handed to the optimizer, a closure returning the mini-batch loss and the model's output,
``optimizer.step(closure)``), on ggnbench's loaders and networks (the data pipeline is not
what these tests compare).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from contextlib import contextmanager
from pathlib import Path

import torch
from backpack import extend

from ggnbench.workload.loaders import make_loaders
from ggnbench.workload.problems import get_problem

HERE = Path(__file__).parent

#: Git blob ids of the copied files: (repository, commit, path) -> blob.
BLOBS = {
    "bpoptim/__init__.py": "4142f95a837289eef49ead51aebaca5ad1479783",
    "bpoptim/base_optimizer.py": "7f800cdd2d61fed58490469d3a8543728f886074",
    "bpoptim/constant_damping.py": "603a00e1d49391f439f356190051e6c4f38fa308",
    "bpoptim/curvature.py": "a703f14a10e0df35bf1ea4aecbdbc06790e9ec20",
    "bpoptim/fancy_damping.py": "36918465a77295e0d021f07b7ccbbfbf2a7b411b",
    "bpoptim/inverse_curvature.py": "f6d3bbfce20a8a6456c84e83774596d6b13eee8a",
    "bpoptim/lm_damping.py": "6149fb1225dd433de881cd59aa2abbe66957e783",
    "bpoptim/moving_average.py": "88714b6201b57dc9bc51d85bb3551827a03f59d8",
    "bpoptim/utils.py": "ae8a2d50b87b2af0a1c15d19e95cf8faf0553098",
    "backpack_1_0_0/secondorder_utils.py": "dc967e22a1e76b74896dad807964332a68653588",
    "backpack_1_0_0/utils_utils.py": "3b69a04b68e384f88a835cf339fb6b1b1fda37f1",
}
#: Where they come from.
ORIGINS = {
    "bpoptim": "toiaydcdyywlhzvlob/backpack@9cc53999ebff17ea53e4d46681cb6d4917159a14 "
    "libraries/backpack-optim/bpoptim/",
    "backpack_1_0_0": "f-dangel/backpack@1.0.0 (47bae681d1659bbb14f0e0db54ac91e4c3face5f) "
    "backpack/extensions/secondorder/utils.py, backpack/utils/utils.py",
}

#: The paper's optimizer class per ggnbench optimizer name.
CLASSES = {
    "diag_ggn_mc": "DiagGGNMCConstantDampingOptimizer",
    "diag_ggn_exact": "DiagGGNConstantDampingOptimizer",
    "kfac": "KFACConstantDampingOptimizer",
    "kflr": "KFLRConstantDampingOptimizer",
    "kfra": "KFRAConstantDampingOptimizer",
}


def git_blob(path: Path) -> str:
    """The git blob id of a file (``git hash-object``).

    Returns:
        40 hexadecimal digits.
    """
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _load(name: str, path: Path) -> None:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


def bpoptim():
    """The paper's ``bpoptim`` package, importable on today's BackPACK.

    Returns:
        The package module.
    """
    if "backpack.utils.utils" not in sys.modules:
        had_opt_einsum = "opt_einsum" in sys.modules
        sys.modules.setdefault("opt_einsum", types.ModuleType("opt_einsum"))
        try:
            _load("backpack.utils.utils", HERE / "backpack_1_0_0" / "utils_utils.py")
        finally:
            if not had_opt_einsum:
                del sys.modules["opt_einsum"]
        utils = HERE / "backpack_1_0_0" / "secondorder_utils.py"
        _load("backpack.extensions.secondorder.utils", utils)
    import tests.bpoptim

    return tests.bpoptim


@contextmanager
def torch_1_symeig():
    """``Tensor.symeig`` as torch 1.x had it (upper triangle by default), for a while."""
    before = torch.Tensor.symeig

    def symeig(self, eigenvectors=False, upper=True):
        return torch.linalg.eigh(self, UPLO="U" if upper else "L")

    torch.Tensor.symeig = symeig
    try:
        yield
    finally:
        torch.Tensor.symeig = before


def bpoptim_trace(
    problem_name: str,
    data_root,
    optimizer: str,
    lr: float,
    damping: float,
    weight_decay: float,
    steps: int,
    seed: int = 0,
    batch_size: int | None = None,
) -> list[tuple[float, float]]:
    """Train with the paper's optimizer; return (loss, accuracy) of each mini-batch.

    Seeding follows ``ggnbench train``'s documented order: seed, loaders, network, then one
    shuffled pass after another.

    Returns:
        ``(loss, accuracy)`` of each mini-batch.
    """
    package = bpoptim()
    problem = get_problem(problem_name)
    torch.manual_seed(seed)
    # torchvision's per-image path, as the paper's runs read their data (ggnbench's runs
    # take the tensor path by default: the traces then test that the batches are equal).
    loaders = make_loaders(problem, data_root, batch_size, download=False, data_path="pil")
    net = problem.model_fn()
    loss_function = extend(problem.loss_fn())
    # NoBackwardOnRegularizationRunner: one group per L2 coefficient, L2 left to the optimizer.
    param_groups = [
        {"params": group["params"], "weight_decay": group["weight_decay"]}
        for group in problem.param_groups(net, weight_decay)
    ]
    opt = getattr(package, CLASSES[optimizer])(param_groups, lr=lr, damping=damping)
    extend(net)
    trace: list[tuple[float, float]] = []
    with torch_1_symeig():
        while True:
            for x, y in loaders.train:
                outputs = []

                def closure(x=x, y=y, outputs=outputs):
                    output = net(x)
                    outputs.append(output)
                    return loss_function(output, y), output

                batch_loss = opt.step(closure)
                accuracy = (outputs[0].argmax(dim=1) == y).float().mean().item()
                trace.append((batch_loss.item(), accuracy))
                if len(trace) == steps:
                    return trace
