"""Options, parametrization and machine info of the overhead benchmark.

Without options it times what a study's ``bench`` section times by default (the defaults
in ``config/schema.yaml``, read here); select what to time on the command line, e.g.::

    pytest bench/ --bench-networks mnist_cnn,cifar10_3c3d --bench-batch-sizes 32,48,64,128 \
        --bench-devices cpu --benchmark-json results/bench/cpu.json
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import EXTENSIONS, NATIVE_OF, REGIONS, STEP_EXTENSIONS

from ggnbench import provenance
from ggnbench.progress import Progress
from ggnbench.workflow import benchsuite
from ggnbench.workload.problems import PROBLEMS


@dataclass(frozen=True)
class Case:
    """One timed combination."""

    network: str
    batch_size: int
    device: str
    region: str
    extension: str

    @property
    def id(self) -> str:
        """Readable test id."""
        return f"{self.network}-b{self.batch_size}-{self.device}-{self.region}-{self.extension}"


@dataclass(frozen=True)
class Race:
    """Native and BackPACK extensions timed in interleaved rounds on one case."""

    network: str
    batch_size: int
    device: str
    region: str
    extensions: tuple[str, ...]

    @property
    def id(self) -> str:
        """Readable test id."""
        return f"{self.network}-b{self.batch_size}-{self.device}-{self.region}-race"


def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


#: The study configuration's schema, whose ``bench`` defaults are this suite's defaults.
SCHEMA = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


def _defaults() -> dict:
    """The ``bench`` section's defaults in the schema (what a study runs by default)."""
    bench = yaml.safe_load(SCHEMA.read_text())["properties"]["bench"]["properties"]
    return {key: spec["default"] for key, spec in bench.items() if "default" in spec}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Selection options of the benchmark suite; defaults from the schema's ``bench``."""
    d = _defaults()
    group = parser.getgroup("ggnbench", "ggnbench overhead benchmark")
    networks = ",".join(benchsuite.networks(d))
    group.addoption("--bench-networks", default=networks, help="problem networks")
    group.addoption("--bench-extensions", default=",".join(d["extensions"]), help="extensions")
    group.addoption(
        "--bench-batch-sizes", default=",".join(map(str, d["batch_sizes"])), help="batch sizes"
    )
    group.addoption("--bench-devices", default="auto", help="cpu, cuda or auto")
    group.addoption("--bench-regions", default=",".join(d["regions"]), help="timed regions")
    group.addoption("--bench-rounds", type=int, default=d["rounds"], help="timed rounds per case")
    group.addoption(
        "--bench-warmup", type=int, default=d["warmup_rounds"], help="warm-up rounds per case"
    )
    group.addoption("--bench-threads", type=int, default=d["threads"], help="torch CPU threads")


def _selection(
    config: pytest.Config,
) -> tuple[list[str], list[str], list[str], list[str], list[int]]:
    networks = _csv(config.getoption("bench_networks"))
    extensions = _csv(config.getoption("bench_extensions"))
    regions = _csv(config.getoption("bench_regions"))
    devices = _csv(config.getoption("bench_devices"))
    for kind, chosen, known in (
        ("network", networks, PROBLEMS),
        ("extension", extensions, EXTENSIONS),
        ("region", regions, REGIONS),
        ("device", devices, ("cpu", "cuda", "auto")),
    ):
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise pytest.UsageError(f"unknown {kind} {unknown}; choose from {list(known)}")
    try:
        sizes = [int(s) for s in _csv(config.getoption("bench_batch_sizes"))]
    except ValueError as err:
        raise pytest.UsageError(f"--bench-batch-sizes must be integers: {err}") from err
    if not sizes or min(sizes) < 1:
        raise pytest.UsageError("--bench-batch-sizes must be positive integers")
    if devices == ["auto"]:
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    return networks, extensions, regions, devices, sizes


def _cases(config: pytest.Config) -> list[Case]:
    networks, extensions, regions, devices, sizes = _selection(config)
    cases = []
    # Extensions vary fastest: a ratio's numerator and its plain-gradient denominator are
    # timed back to back in the same session.
    for network in networks:
        for device in devices:
            for batch in sizes:
                for region in regions:
                    for extension in extensions:
                        if region in ("step", "iteration") and extension not in STEP_EXTENSIONS:
                            continue
                        cases.append(Case(network, batch, device, region, extension))
    return cases


#: The region of the race: what a training step's backward costs, batch transfer included.
RACE_REGION = "forward_backward"


def _races(config: pytest.Config) -> list[Race]:
    """One race per case where a native extension and its BackPACK twin are both selected."""
    networks, extensions, regions, devices, sizes = _selection(config)
    raced = [e for e in extensions if e in NATIVE_OF and NATIVE_OF[e] in extensions]
    if not raced or RACE_REGION not in regions:
        return []
    entrants = tuple(
        dict.fromkeys(e for n in raced for e in ("none", NATIVE_OF[n], n) if e in extensions)
    )
    return [
        Race(network, batch, device, RACE_REGION, entrants)
        for network in networks
        for device in devices
        for batch in sizes
    ]


def _cuda_skip(device: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        device == "cuda" and not torch.cuda.is_available(), reason="CUDA not available"
    )


def pytest_configure(config: pytest.Config) -> None:
    """Apply the thread setting before anything is timed."""
    threads = config.getoption("bench_threads", default=None)
    if threads:
        torch.set_num_threads(threads)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``case`` with the selected combinations and ``race`` with the races."""
    if "case" in metafunc.fixturenames:
        params = [
            pytest.param(c, id=c.id, marks=_cuda_skip(c.device)) for c in _cases(metafunc.config)
        ]
        metafunc.parametrize("case", params)
    if "race" in metafunc.fixturenames:
        params = [
            pytest.param(r, id=r.id, marks=_cuda_skip(r.device)) for r in _races(metafunc.config)
        ]
        metafunc.parametrize("race", params)


@pytest.fixture
def bench_rounds(request: pytest.FixtureRequest) -> tuple[int, int]:
    """(timed rounds, warm-up rounds)."""
    return request.config.getoption("bench_rounds"), request.config.getoption("bench_warmup")


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record the software and hardware the timings come from, as a run's ``run.json`` does."""
    cuda = torch.cuda.is_available()
    machine_info["provenance"] = provenance.collect("cuda" if cuda else "cpu")
    machine_info["cuda_available"] = cuda
    if cuda:
        machine_info["cuda_capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))


#: Cases whose call failed: what a benchmark JSON lists under ``unmeasured``.
UNMEASURED_KEY = "unmeasured"
#: Longest cause recorded for an unmeasured case.
MAX_REASON = 300
_PROGRESS = pytest.StashKey[Progress]()
_UNMEASURED = pytest.StashKey[list]()


def _case_of(item: pytest.Item) -> Case | Race | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    found = [v for v in params.values() if isinstance(v, Case | Race)]
    return found[0] if found else None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the progress lines: one per finished case, a heartbeat during a long one."""
    session.config.stash[_PROGRESS] = Progress("benchmark", len(session.items), unit="case")
    session.config.stash[_UNMEASURED] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Record a case that could not be measured, with the first line of its cause."""
    outcome = yield
    report = outcome.get_result()
    case = _case_of(item)
    if report.failed and case is not None:
        error = call.excinfo.value if call.excinfo else None
        cause = f"{type(error).__name__}: {error}" if error is not None else report.when
        cause = (cause.strip().splitlines() or [report.when])[0]
        fields = {k: getattr(case, k) for k in ("network", "batch_size", "device", "region")}
        extensions = getattr(case, "extensions", None) or (case.extension,)
        item.config.stash[_UNMEASURED] += [
            {**fields, "extension": e, "case": case.id, "reason": cause[:MAX_REASON]}
            for e in extensions
        ]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """One more case done: a progress line (at most every so often) naming it."""
    yield
    progress = item.config.stash.get(_PROGRESS, None)
    if progress is not None:
        case = _case_of(item)
        progress.update(progress.done + 1, last=case.id if case is not None else item.name)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the heartbeat."""
    progress = session.config.stash.get(_PROGRESS, None)
    if progress is not None:
        progress.close()


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict):
    """List the cases that could not be measured beside the measured ones."""
    output_json[UNMEASURED_KEY] = config.stash.get(_UNMEASURED, [])
