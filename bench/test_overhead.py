"""Time BackPACK extensions and native ones against the plain gradient, each checked first.

The timed regions (``backward``, ``forward_backward``, ``paper_call``, and for the
curvature optimizers ``step`` and ``iteration``) are defined as data in ``regions.py``.
Every extension is compared with its autograd reference (``gate.py``) before it is
timed; CUDA is synchronized inside the timed call.
"""

from __future__ import annotations

import gate
import torch
from cases import EXTENSIONS, STEP_EXTENSIONS
from regions import OPTIMIZER_REGIONS, REGIONS, Subject
from torch import nn

from ggnbench.optimizers.optim import build_optimizer
from ggnbench.run.memory import peak_memory
from ggnbench.workload.problems import get_problem

INPUT_SEED = 0


def build(case) -> Subject:
    """The model, loss, backward context, batch (and optimizer) one case times.

    Returns:
        The subject of the case's timed region.
    """
    problem = get_problem(case.network)
    device = torch.device(case.device)
    torch.manual_seed(INPUT_SEED)
    model = problem.model_fn().to(device).eval()
    model, loss_fn, context = EXTENSIONS[case.extension].prepare(model, nn.CrossEntropyLoss())
    x = torch.randn(case.batch_size, *problem.input_shape)
    y = torch.randint(0, problem.num_classes, (case.batch_size,))
    if device.type == "cuda":
        x, y = x.pin_memory(), y.pin_memory()
    subject = Subject(case.network, case.batch_size, model, loss_fn, context, device, x, y)
    if case.region in OPTIMIZER_REGIONS:
        name, backend = STEP_EXTENSIONS[case.extension]
        # The case's context fills the curvature attribute; the step only reads it.
        options = {"backend": backend} if backend == "native" else {}
        subject.optimizer = build_optimizer(
            name, list(model.parameters()), lr=1e-3, damping=1.0, **options
        )
    return subject


def test_overhead(benchmark, case, bench_rounds):
    """One combination: gate, then memory, then timing."""
    gate.check(case.network, case.extension, case.device)
    subject = build(case)
    spec = EXTENSIONS[case.extension]
    setup, target = REGIONS[case.region](subject)
    args, _ = setup()
    memory, method = peak_memory(lambda: target(*args), subject.device)
    rounds, warmup = bench_rounds
    benchmark.group = f"{case.network} b={case.batch_size} {case.device} {case.region}"
    benchmark.extra_info.update(
        network=case.network, extension=case.extension, batch_size=case.batch_size,
        device=case.device, region=case.region, peak_memory_bytes=memory, memory_method=method,
        torch_threads=torch.get_num_threads(),
    )  # fmt: skip
    params = list(subject.model.parameters())
    before = [p.detach().clone() for p in params]
    benchmark.pedantic(target, setup=setup, rounds=rounds, warmup_rounds=warmup, iterations=1)
    # Eigendecompositions LAPACK returned non-finite and the optimizer redid in float64
    # (warm-up included): their time is in the measurement, so the table says so.
    benchmark.extra_info["eigh_float64_retries"] = len(
        getattr(subject.optimizer, "eigh_retries", ())
    )
    # The timed call did its work: the extension filled its attribute, the step moved weights.
    if case.region not in OPTIMIZER_REGIONS and spec.factory is not None:
        assert all(hasattr(p, spec.attr) for p in params)
    if subject.optimizer is not None:
        moved = [not torch.equal(b, p.detach()) for b, p in zip(before, params, strict=True)]
        assert any(moved), "the timed optimizer step left every parameter unchanged"
