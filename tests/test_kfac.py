"""The K-FAC family (KFAC, KFLR, KFRA): the paper's code, closed forms, autograd, refusals."""

import collections
import copy
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from backpack import backpack, extend
from backpack.extensions import KFAC, KFLR, KFRA
from torch import nn
from torch.func import hessian, jacrev

from ggnbench import cli
from ggnbench.errors import GGNBenchError, StepFailure
from ggnbench.optimizers import kfac
from ggnbench.optimizers.averaging import RunningAverage
from ggnbench.optimizers.feasibility import check_feasible, dense_curvature_bytes
from ggnbench.optimizers.kfac import KroneckerFactored, factor_inverses, tikhonov_pi
from ggnbench.workflow.configcheck import config_error
from ggnbench.workload.problems import get_problem
from tests import reference_bpoptim
from tests.conftest import make_mnist_root
from tests.conftest import train_trace as trace
from tests.reference_bpoptim import bpoptim_trace

ROOT = Path(__file__).resolve().parents[1]


def train(out, problem, optimizer, root, *extra, steps=64, lr=0.05, damping=0.01, wd=0.0):
    argv = [
        "train", "--problem", problem, "--optimizer", optimizer, "--curvature-average", "mean",
        "--lr", str(lr), "--damping", str(damping), "--weight-decay", str(wd),
        "--steps", str(steps), "--eval-every", "0", "--threads", "1", "--data-root", str(root),
        "--no-download", "--out", str(out), *extra,
    ]  # fmt: skip
    return cli.main(argv)


@pytest.fixture(scope="module")
def logreg_root(tmp_path_factory):
    """Small MNIST-format data for mnist_logreg (700 images: 5 batches of 128 a pass)."""
    return make_mnist_root(tmp_path_factory.mktemp("logreg") / "data")


def test_the_reference_is_the_papers_code_unchanged():
    # Any edit of a copied file (a "fix" that would share ggnbench's mistakes) fails here.
    for name, blob in reference_bpoptim.BLOBS.items():
        assert reference_bpoptim.git_blob(reference_bpoptim.HERE / name) == blob, name


# KFAC (Monte-Carlo factors) and KFLR (exact) on digits_cnn: 19 batches of 64 a pass, so 64
# steps span four passes. KFRA (exact, with the alias) on mnist_logreg: 5 batches a pass.
@pytest.mark.parametrize("wd", [0.0, 1e-3], ids=["no-wd", "wd"])
@pytest.mark.parametrize(
    "optimizer,problem", [("kfac", "digits_cnn"), ("kflr", "digits_cnn"), ("kfra", "mnist_logreg")]
)
def test_trace_equals_the_papers_code_bitwise(tmp_path, logreg_root, optimizer, problem, wd):
    torch.set_num_threads(1)
    root = logreg_root if problem == "mnist_logreg" else tmp_path
    reference = bpoptim_trace(problem, root, optimizer, 0.05, 0.01, wd, steps=64)
    out = tmp_path / "run"
    assert train(out, problem, optimizer, root, "--shared-factors", "aliased", wd=wd) == 0
    assert trace(out) == reference  # exact: no tolerance
    assert reference[-1][0] < reference[0][0]  # it trains: the trace is not a stuck one
    info = json.loads((out / "run.json").read_text())
    assert info["resolved"]["threads"] == 1
    assert info["resolved"]["optimizer"]["shared_factors"] == "aliased"
    assert info["resolved"]["optimizer"]["inverse_every"] == 1


@pytest.mark.parametrize("optimizer", ["kfac", "kflr"])
def test_example_network_equals_the_papers_code_bitwise(tmp_path, mnist_root, optimizer):
    # BackPACK's example network (mnist_cnn), 60 steps of 64 over 700 images (6 passes).
    torch.set_num_threads(1)
    reference = bpoptim_trace("mnist_cnn", mnist_root, optimizer, 0.01, 0.1, 0.0, steps=60)
    out = tmp_path / "run"
    assert train(out, "mnist_cnn", optimizer, mnist_root, steps=60, lr=0.01, damping=0.1) == 0
    assert trace(out) == reference


def test_kfra_hands_a_linear_layers_output_factor_to_its_bias_too():
    net = extend(nn.Sequential(nn.Flatten(), nn.Linear(12, 3)))
    with backpack(KFRA(), KFLR()):
        extend(nn.CrossEntropyLoss())(
            net(torch.randn(5, 12)), torch.tensor([0, 1, 2, 0, 1])
        ).backward()
    weight, bias = net[1].weight, net[1].bias
    assert weight.kfra[0] is bias.kfra[0]  # one tensor object, two parameters
    assert weight.kflr[0] is not bias.kflr[0]


def test_aliased_average_updates_a_shared_factor_once_per_parameter():
    # Two parameters sharing one factor tensor each step, as KFRA's weight and bias do.
    observations = [torch.full((2, 2), float(v)) for v in (4.0, 1.0, 7.0, 5.0)]
    estimates = {}
    for shared in ("separate", "aliased"):
        state = collections.defaultdict(dict)
        average = RunningAverage(state, "mean", 0.95, shared)
        w, b = torch.zeros(1), torch.ones(1)
        for x in observations:
            shared_x = x.clone()
            average.update(w, [shared_x])
            estimates[shared] = average.update(b, [shared_x])[0]
        assert state[w]["observations"] == len(observations)
    # separate: the arithmetic mean, 4.25
    torch.testing.assert_close(estimates["separate"], torch.full((2, 2), 4.25), rtol=0, atol=1e-6)
    # aliased: m <- (1 - a)^2 m + (1 - (1 - a)^2) x, a = min(1 / (t + 1), 0.9): a recency-
    # weighted average instead of the mean.
    m = 4.0
    for t, x in enumerate([1.0, 7.0, 5.0], start=1):
        keep = (1 - min(1 / (t + 1), 0.9)) ** 2
        m = keep * m + (1 - keep) * x
    torch.testing.assert_close(estimates["aliased"], torch.full((2, 2), m), rtol=0, atol=1e-6)
    assert abs(m - 4.25) > 0.1


def test_kfra_alias_matters_and_the_clean_average_is_the_default(tmp_path, logreg_root):
    torch.set_num_threads(1)
    reference = bpoptim_trace("mnist_logreg", logreg_root, "kfra", 0.05, 0.01, 0.0, steps=20)
    assert train(tmp_path / "clean", "mnist_logreg", "kfra", logreg_root, steps=20) == 0
    assert train(tmp_path / "kflr", "mnist_logreg", "kflr", logreg_root, steps=20) == 0
    info = json.loads((tmp_path / "clean" / "run.json").read_text())
    assert info["resolved"]["optimizer"]["shared_factors"] == "separate"
    # On logistic regression KFRA and KFLR are the same curvature: the clean average makes
    # them the same optimizer, the paper's alias does not.
    clean, kflr = trace(tmp_path / "clean"), trace(tmp_path / "kflr")
    assert clean[0] == reference[0] and clean != reference
    assert max(abs(a[0] - b[0]) for a, b in zip(clean, kflr, strict=True)) < 1e-4


def small_net_factors():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3)).double()
    x, y = torch.randn(8, 6, dtype=torch.float64), torch.randint(0, 3, (8,))
    clean = copy.deepcopy(net)
    extended = extend(net)
    with backpack(KFLR(), KFRA(), KFAC(mc_samples=20_000)):
        extend(nn.CrossEntropyLoss())(extended(x), y).backward()
    # Autograd: per-sample loss Hessians H_n wrt the logits, Jacobians J_n of the logits
    # wrt the first layer's output; layer inputs a_n.
    w2, b2 = clean[2].weight.detach(), clean[2].bias.detach()
    z1 = clean[0](x).detach()
    a2 = torch.sigmoid(z1)
    logits = nn.functional.linear(a2, w2, b2)
    n = len(y)
    hess = torch.stack([
        hessian(lambda f, i=i: nn.functional.cross_entropy(f[None], y[i : i + 1]))(logits[i])
        for i in range(n)
    ])  # fmt: skip
    jac = torch.stack(
        [jacrev(lambda z: nn.functional.linear(torch.sigmoid(z), w2, b2))(z1[i]) for i in range(n)]
    )
    reference = {
        2: (hess.mean(0), a2.T @ a2 / n),
        0: (torch.einsum("nci,ncd,ndj->ij", jac, hess, jac) / n, x.T @ x / n),
    }
    return net, reference


def test_factors_equal_their_autograd_definition():
    # G = mean_n J_n^T H_n J_n (output side), A = mean_n a_n a_n^T (input side); a bias's
    # factor is its exact GGN block. KFRA is exact on the last layer; KFAC's Monte-Carlo
    # factor estimates G.
    net, reference = small_net_factors()
    for index, (g, a) in reference.items():
        layer = net[index]
        for name in ("kflr",) + (("kfra",) if index == 2 else ()):
            got_g, got_a = getattr(layer.weight, name)
            torch.testing.assert_close(got_g, g, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(got_a, a, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(getattr(layer.bias, name)[0], g, rtol=1e-10, atol=1e-12)
        mc_g, mc_a = layer.weight.kfac
        torch.testing.assert_close(mc_a, a, rtol=1e-10, atol=1e-12)
        assert torch.linalg.matrix_norm(mc_g - g) < 0.05 * torch.linalg.matrix_norm(g)


def spd(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    m = torch.randn(n, n, generator=generator, dtype=torch.float64)
    return m @ m.T / n + 0.1 * torch.eye(n, dtype=torch.float64)


def test_pi_and_the_damping_split():
    g, a, gamma = spd(3, 0), 5.0 * spd(4, 1), 0.3
    pi = tikhonov_pi(g, a)
    expected = math.sqrt((a.trace().item() / 4) / (g.trace().item() / 3))
    assert math.isclose(pi.item(), expected, rel_tol=1e-12)
    (inverse_g, inverse_a), retried = factor_inverses([g, a], gamma)
    assert retried == []
    eye3, eye4 = torch.eye(3, dtype=g.dtype), torch.eye(4, dtype=g.dtype)
    torch.testing.assert_close(inverse_a @ (a + expected * math.sqrt(gamma) * eye4), eye4)
    torch.testing.assert_close(inverse_g @ (g + math.sqrt(gamma) / expected * eye3), eye3)
    (inverse_b,), _ = factor_inverses([g], gamma)  # a bias: the whole shift
    torch.testing.assert_close(inverse_b @ (g + gamma * eye3), eye3)


def test_one_update_equals_its_closed_form():
    torch.manual_seed(3)
    layer = nn.Linear(4, 3).double()
    g, a = spd(3, 5), spd(4, 6)
    lr, damping, wd = 0.2, 0.05, 0.01
    before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    grads = {name: torch.randn_like(p) for name, p in layer.named_parameters()}
    layer.weight.grad, layer.bias.grad = grads["weight"].clone(), grads["bias"].clone()
    layer.weight.kflr, layer.bias.kflr = [g, a], [g]
    opt = KroneckerFactored(
        layer.parameters(), lr=lr, damping=damping, source=kfac.KFLR_SOURCE, weight_decay=wd
    )
    opt.step()
    gamma = damping + wd
    pi = math.sqrt((a.trace().item() / 4) / (g.trace().item() / 3))
    damped_g = g + math.sqrt(gamma) / pi * torch.eye(3, dtype=g.dtype)
    damped_a = a + pi * math.sqrt(gamma) * torch.eye(4, dtype=g.dtype)
    v = -lr * (grads["weight"] + wd * before["weight"])
    expected_weight = (
        before["weight"] + torch.linalg.solve(damped_g, v) @ torch.linalg.inv(damped_a).T
    )
    v_bias = -lr * (grads["bias"] + wd * before["bias"])
    expected_bias = before["bias"] + torch.linalg.solve(
        g + gamma * torch.eye(3, dtype=g.dtype), v_bias
    )
    torch.testing.assert_close(layer.weight.detach(), expected_weight, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(layer.bias.detach(), expected_bias, rtol=1e-10, atol=1e-12)


def test_inverse_every_reuses_the_inverses(monkeypatch, tmp_path, logreg_root):
    calls = []
    eigh = torch.linalg.eigh

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return eigh(*args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigh", counting)
    assert train(tmp_path / "k3", "mnist_logreg", "kflr", logreg_root, "--inverse-every", "3",
                 steps=7) == 0  # fmt: skip
    assert len(calls) == 3 * 3  # steps 0, 3, 6; weight's G and A, and the bias's factor
    calls.clear()
    assert train(tmp_path / "k1", "mnist_logreg", "kflr", logreg_root, steps=7) == 0
    assert len(calls) == 7 * 3
    k3, k1 = trace(tmp_path / "k3"), trace(tmp_path / "k1")
    assert k3[:2] == k1[:2] and k3[2] != k1[2]  # step 1 reuses step 0's inverse


def test_failed_eigendecomposition_is_a_recorded_failed_run(
    monkeypatch, tmp_path, logreg_root, capsys
):
    eigh = torch.linalg.eigh
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 6:  # the third step's first factor (the weight's A)
            raise torch.linalg.LinAlgError("linalg.eigh: The algorithm failed to converge")
        return eigh(*args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigh", failing)
    out = tmp_path / "run"
    assert train(out, "mnist_logreg", "kfac", logreg_root, steps=10) == 0  # the sweep goes on
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and info["diverged_at"] == 2
    assert info["failure"].startswith("parameter '1.weight' (10x784) at step 2: ")
    assert "eigendecomposition of its 784x784 Kronecker factor failed" in info["failure"]
    assert info["summary"]["steps_done"] == 2
    err = capsys.readouterr().err
    assert "failed at step 2: parameter '1.weight'" in err and "Traceback" not in err


def silent_nan(dtypes, calls=None, where="values"):
    """torch.linalg.eigh returning NaN without raising (as LAPACK can) for some dtypes.

    Only the calls whose 1-based number is in ``calls`` (every call if None) are broken.

    Returns:
        The broken function and the list of the dtypes it was called with.
    """
    eigh = torch.linalg.eigh
    seen = []

    def broken(factor, UPLO="L"):
        seen.append(factor.dtype)
        values, vectors = eigh(factor, UPLO=UPLO)
        if factor.dtype in dtypes and (calls is None or len(seen) in calls):
            if where == "values":
                values[0] = math.nan
            else:
                vectors[-1, -1] = math.inf
        return values, vectors

    return broken, seen


def test_checked_eigh_keeps_the_float32_result_where_it_is_finite():
    factor = spd(6, 0).float()
    values, vectors, retried = kfac.checked_eigh(factor)
    expected = torch.linalg.eigh(factor, UPLO="U")
    assert not retried and values.dtype == torch.float32
    assert torch.equal(values, expected[0]) and torch.equal(vectors, expected[1])  # bitwise


@pytest.mark.parametrize("where", ["values", "vectors"])
def test_a_silent_non_finite_eigh_is_retried_in_float64(monkeypatch, where):
    factor = spd(6, 0).float()
    broken, seen = silent_nan({torch.float32}, where=where)
    monkeypatch.setattr(torch.linalg, "eigh", broken)
    values, vectors, retried = kfac.checked_eigh(factor)
    assert retried and seen == [torch.float32, torch.float64]
    assert values.dtype == vectors.dtype == torch.float32
    assert torch.isfinite(values).all() and torch.isfinite(vectors).all()
    rebuilt = vectors @ torch.diag(values) @ vectors.T
    torch.testing.assert_close(rebuilt, factor, rtol=1e-5, atol=1e-4)


def test_non_finite_in_float64_too_is_a_step_failure(monkeypatch):
    broken, seen = silent_nan({torch.float32, torch.float64})
    monkeypatch.setattr(torch.linalg, "eigh", broken)
    with pytest.raises(StepFailure, match="6x6 Kronecker factor returned non-finite values, in"):
        kfac.checked_eigh(spd(6, 0).float())
    assert seen == [torch.float32, torch.float64]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_factor_is_a_step_failure_before_any_eigh(monkeypatch, bad):
    broken, seen = silent_nan(set())
    monkeypatch.setattr(torch.linalg, "eigh", broken)
    factor = torch.eye(3)
    factor[0, 2] = bad
    with pytest.raises(StepFailure, match="its 3x3 Kronecker factor is not finite"):
        kfac.checked_eigh(factor)
    assert seen == []
    factor[0, 2] = torch.finfo(torch.float32).max  # the largest finite value is finite
    kfac.checked_eigh(factor)


def test_a_run_retries_a_silent_nan_in_float64_and_records_it(
    monkeypatch, tmp_path, logreg_root, capsys
):
    # The third step's first factor (call 7: three factors a step) comes back NaN from
    # float32 LAPACK without an error: recomputed in float64, recorded, the run goes on.
    monkeypatch.setattr(torch.linalg, "eigh", silent_nan({torch.float32}, calls={7})[0])
    out = tmp_path / "run"
    assert train(out, "mnist_logreg", "kfac", logreg_root, steps=4) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "ok" and info["summary"]["steps_done"] == 4
    assert info["summary"]["eigh_float64_retries"] == 1
    (event,) = info["summary"]["eigh_retried"]
    assert event == {"step": 2, "parameter": "parameter '1.weight' (10x784)", "factor": "A",
                     "size": [784, 784]}  # fmt: skip
    assert "recomputed in float64 (first: step 2, parameter '1.weight'" in capsys.readouterr().err
    assert all(math.isfinite(loss) for loss, _ in trace(out))


def test_a_run_whose_eigh_stays_non_finite_fails_naming_parameter_and_step(
    monkeypatch, tmp_path, logreg_root, capsys
):
    # Calls 7 (float32) and 8 (its float64 retry) both come back NaN.
    monkeypatch.setattr(torch.linalg, "eigh", silent_nan({torch.float32, torch.float64},
                                                         calls={7, 8})[0])  # fmt: skip
    out = tmp_path / "run"
    assert train(out, "mnist_logreg", "kfac", logreg_root, steps=4) == 0  # a result, not a crash
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "failed" and info["diverged_at"] == 2
    assert info["failure"] == (
        "parameter '1.weight' (10x784) at step 2: eigendecomposition of its 784x784 Kronecker "
        "factor returned non-finite values, in float64 too; a larger damping may avoid it"
    )
    err = capsys.readouterr().err
    assert "failed at step 2: parameter '1.weight'" in err and "Traceback" not in err


def test_kfra_is_refused_where_its_dense_curvature_would_not_fit(tmp_path, mnist_root, capsys):
    model = get_problem("mnist_cnn").model_fn()
    largest, total = dense_curvature_bytes(model, (1, 28, 28))
    assert largest == (20 * 24 * 24) ** 2 * 4  # the first convolution's output, 11,520 features
    assert total > largest
    with pytest.raises(GGNBenchError, match=r"up to 506 MiB each .* --allow-large-curvature"):
        check_feasible(kfac.KFRA_SOURCE, model, (1, 28, 28))
    check_feasible(kfac.KFRA_SOURCE, model, (1, 28, 28), limit_bytes=None)  # asked for anyway
    check_feasible(kfac.KFAC_SOURCE, model, (1, 28, 28))  # KFAC's factors are small
    assert train(tmp_path / "run", "mnist_cnn", "kfra", mnist_root, steps=1) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: KFRA would backpropagate") and "\n" not in err
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_layer_backpack_does_not_support_is_refused_before_any_step():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    with pytest.raises(GGNBenchError, match=r"KFAC does not support layer '1' \(LayerNorm\)"):
        check_feasible(kfac.KFAC_SOURCE, model, (4,))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"inverse_every": 0}, "inverse_every must be an integer >= 1"),
        ({"shared_factors": "twice"}, "unknown shared_factors 'twice'"),
        ({"curvature_average": "median"}, "unknown curvature_average 'median'"),
        ({"damping": -1.0}, "damping must be a finite number >= 0"),
    ],
)
def test_bad_options_are_named(kwargs, match):
    options = {"lr": 0.1, "damping": 1.0, **kwargs}
    with pytest.raises(GGNBenchError, match=match):
        KroneckerFactored([nn.Parameter(torch.zeros(2, 2))], **options)


def test_reciprocal_eigenvalues_are_clamped_to_zero_and_1e8():
    # A singular factor with a rounding-negative eigenvalue, no damping: 1/0 becomes 1e8 and
    # the negative reciprocal 0, as the paper's code clamps them.
    factor = torch.diag(torch.tensor([2.0, 0.0, -1e-12], dtype=torch.float64))
    inverse, retried = kfac.damped_inverse(factor, 0.0)
    assert not retried
    expected = torch.diag(torch.tensor([0.5, 1e8, 0.0], dtype=torch.float64))
    torch.testing.assert_close(inverse, expected, rtol=1e-12, atol=0)


def test_a_new_curvature_optimizer_is_one_module_and_one_registry_entry(monkeypatch, tmp_path):
    # tests/new_optimizer.py, with a hyperparameter of its own; the workflow's run of it is
    # tests/test_workflow.py::test_a_new_optimizer_runs_through_the_workflow_and_the_report.
    from ggnbench.optimizers import optim
    from ggnbench.workflow import plan_check, study
    from tests import new_optimizer

    monkeypatch.setitem(optim.OPTIMIZERS, "diag_hessian", new_optimizer.SPEC)
    out = tmp_path / "run"
    extra = ["--exponent", "0.5"]
    assert train(out, "digits_cnn", "diag_hessian", tmp_path, *extra, steps=5, lr=0.1,
                 damping=1.0) == 0  # fmt: skip
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "ok" and info["resolved"]["optimizer"]["curvature_average"] == "mean"
    assert info["resolved"]["optimizer"]["exponent"] == 0.5
    assert info["config"]["hparams"]["exponent"] == 0.5
    assert trace(out)[-1][0] < trace(out)[0][0]
    # A value past its bound is refused where it enters, with the registry's words.
    assert train(tmp_path / "bad", "digits_cnn", "diag_hessian", tmp_path, "--exponent", "-1",
                 steps=5, lr=0.1, damping=1.0) == 2  # fmt: skip
    # The study takes it by name, with the schema's one optimizer entry, tuned over its own.
    config = {**yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())}
    config["optimizers"] = {"diag_hessian": {"lr": [0.1], "damping": [1.0], "exponent": [0.5, 1]}}
    assert config_error(config, ROOT / "config" / "schema.yaml") is None
    config.setdefault("chunk_size", 1)
    config.setdefault("eval_batch_size", 1000)
    for problem in config["problems"].values():
        problem.setdefault("eval_every", 100)
    plan_check.check_plan(config)
    planned = study.runs(config, "tune", "digits_cnn", "diag_hessian", "cpu")
    assert [r["config"]["hparams"]["exponent"] for r in planned] == [0.5, 1]
    assert planned[0]["out"].endswith("lr=0.1/damping=1.0/exponent=0.5/device=cpu/seed=0")
    # The benchmark times its step.
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import cases

    assert cases.step_extensions()["DiagHessian"] == ("diag_hessian", "backpack")


def test_the_new_optimizer_s_update_in_closed_form():
    # p - lr (g + wd p) / (|h| + damping) ** exponent, elementwise
    from tests.new_optimizer import DiagHessianNewton

    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    p.grad = torch.tensor([0.3, -0.4, 0.1], dtype=torch.float64)
    h = torch.tensor([2.0, -0.5, 0.0], dtype=torch.float64)
    opt = DiagHessianNewton([p], lr=0.5, damping=0.2, exponent=0.5, weight_decay=0.1)
    expected = [1.0 - 0.5 * (0.3 + 0.1) / 2.2**0.5, -2.0 - 0.5 * (-0.4 - 0.2) / 0.7**0.5,
                0.5 - 0.5 * (0.1 + 0.05) / 0.2**0.5]  # fmt: skip
    with torch.no_grad():
        opt.update(opt.param_groups[0], [p], [(h,)])
    torch.testing.assert_close(p.detach(), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.slow
def test_kfra_on_the_example_network_equals_the_papers_code_bitwise(tmp_path, mnist_root):
    # Minutes a step (dense 11,520 x 11,520 matrices): slow-marked, run with -m slow.
    torch.set_num_threads(1)
    reference = bpoptim_trace("mnist_cnn", mnist_root, "kfra", 0.01, 0.1, 0.0, steps=2)
    out = tmp_path / "run"
    argv = ["--shared-factors", "aliased", "--allow-large-curvature"]
    assert train(out, "mnist_cnn", "kfra", mnist_root, *argv, steps=2, lr=0.01, damping=0.1) == 0
    assert trace(out) == reference


@pytest.mark.parametrize("optimizer", ["kfac", "kflr"])
def test_kronecker_optimizers_train_on_every_device(tmp_path, device, optimizer):
    out = tmp_path / "run"
    argv = ["--device", device]
    assert train(out, "digits_cnn", optimizer, tmp_path, *argv, steps=20, lr=0.05) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "ok" and info["resolved"]["device"].startswith(device)
    assert trace(out)[-1][0] < trace(out)[0][0]


def test_the_kronecker_product_takes_a_product_laid_out_transposed(monkeypatch):
    # CUDA's einsum returned (G^-1 (x) A^-1) vec(v) transposed in memory, where .view failed.
    torch.manual_seed(0)
    inverses = [torch.randn(3, 3, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)]
    v = torch.randn(3, 4, dtype=torch.float64)
    expected = (torch.kron(inverses[0], inverses[1]) @ v.reshape(-1)).reshape(3, 4)
    einsum = torch.einsum
    monkeypatch.setattr(torch, "einsum", lambda *a: einsum(*a).t().contiguous().t())
    assert not torch.einsum("ab,bc->ac", inverses[0], v).is_contiguous()
    torch.testing.assert_close(kfac.kronecker_product(inverses, v), expected)
