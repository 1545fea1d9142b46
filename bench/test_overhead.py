"""Time BackPACK extensions against the plain gradient, after checking each against autograd.

Regions: ``backward`` (forward pass and graph built in the untimed setup),
``forward_backward`` (moving the batch to the device, forward and backward),
``paper_call`` (the paper's timed call: fetching the first batch of a freshly shuffled,
augmented DataLoader, moving it to the device, forward and backward), and for the
DiagGGN optimizers ``step`` (its own update) and ``iteration`` (forward, backward and
step). CUDA is synchronized inside the timed call.
"""

from __future__ import annotations

import gate
import paper_call
import torch
from cases import EXTENSIONS, STEP_EXTENSIONS
from torch import nn

from ggnbench.devices import synchronize
from ggnbench.memory import peak_memory
from ggnbench.optim import DiagGGN
from ggnbench.problems import get_problem

INPUT_SEED = 0


def build(case):
    """Model, loss, extension spec, backward context, device and host batch of one case."""
    problem = get_problem(case.network)
    device = torch.device(case.device)
    torch.manual_seed(INPUT_SEED)
    model = problem.model_fn().to(device).eval()
    loss_fn = nn.CrossEntropyLoss()
    spec = EXTENSIONS[case.extension]
    model, loss_fn, context = spec.prepare(model, loss_fn)
    x = torch.randn(case.batch_size, *problem.input_shape)
    y = torch.randint(0, problem.num_classes, (case.batch_size,))
    if device.type == "cuda":
        x, y = x.pin_memory(), y.pin_memory()
    return model, loss_fn, spec, context, device, x, y


def test_overhead(benchmark, case, bench_rounds):
    """One combination: gate, then memory, then timing."""
    gate.check(case.network, case.extension, case.device)
    model, loss_fn, spec, context, device, x_host, y_host = build(case)
    optimizer = None
    if case.region in ("step", "iteration"):
        curvature, backend = STEP_EXTENSIONS[case.extension]
        optimizer = DiagGGN(
            model.parameters(), lr=1e-3, damping=1.0, curvature=curvature, backend=backend
        )

    def backward(loss: torch.Tensor) -> None:
        with context():
            loss.backward()

    def forward() -> torch.Tensor:
        x, y = x_host.to(device, non_blocking=True), y_host.to(device, non_blocking=True)
        return loss_fn(model(x), y)

    def clear() -> None:
        for p in model.parameters():
            p.grad = None

    def fresh():
        clear()
        synchronize(device)
        return (), {}

    if case.region == "backward":

        def setup():
            clear()
            loss = forward()
            synchronize(device)
            return (loss,), {}

        def target(loss):
            backward(loss)
            synchronize(device)

    elif case.region == "forward_backward":
        setup = fresh

        def target():
            backward(forward())
            synchronize(device)

    elif case.region == "paper_call":
        setup = fresh
        loader = paper_call.shuffled_loader(get_problem(case.network), case.batch_size)

        def target():
            x, y = next(iter(loader))
            x, y = x.to(device), y.to(device)
            backward(loss_fn(model(x), y))
            synchronize(device)

    elif case.region == "step":

        def setup():
            clear()
            backward(forward())
            synchronize(device)
            return (), {}

        def target():
            optimizer.step()
            synchronize(device)

    else:  # iteration
        setup = fresh

        def target():
            backward(forward())
            optimizer.step()
            synchronize(device)

    args, _ = setup()
    memory, method = peak_memory(lambda: target(*args), device)
    rounds, warmup = bench_rounds
    benchmark.group = f"{case.network} b={case.batch_size} {case.device} {case.region}"
    benchmark.extra_info.update(
        network=case.network, extension=case.extension, batch_size=case.batch_size,
        device=case.device, region=case.region, peak_memory_bytes=memory, memory_method=method,
        torch_threads=torch.get_num_threads(),
    )  # fmt: skip
    before = [p.detach().clone() for p in model.parameters()]
    benchmark.pedantic(target, setup=setup, rounds=rounds, warmup_rounds=warmup, iterations=1)
    # The timed call did its work: the extension filled its attribute, the step moved weights.
    if case.region in ("backward", "forward_backward", "paper_call") and spec.factory is not None:
        assert all(hasattr(p, spec.attr) for p in model.parameters())
    if optimizer is not None:
        moved = [
            not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters(), strict=True)
        ]
        assert any(moved), "the timed DiagGGN step left every parameter unchanged"
