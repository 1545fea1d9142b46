"""Race the native GGN diagonal against BackPACK's in interleaved rounds.

Each race times forward+backward (batch transfer included) of the plain gradient, each
selected BackPACK DiagGGN extension and its native twin on one network, batch size and
device. Every round times each entrant once, in an order rotated from round to round,
so that drift in the machine's speed reaches all entrants alike; the per-round times go
into the benchmark's ``extra_info`` and ``ggnbench tables bench`` turns them into paired
ratios native/BackPACK (``bench_backend_race.csv``).
"""

from __future__ import annotations

import time

import gate
import torch
from conftest import Case
from regions import REGIONS
from test_overhead import build

from ggnbench.run.memory import peak_memory


def test_race(benchmark, race, bench_rounds):
    """One race: gates, memory of each entrant, then interleaved timed rounds."""
    entrants = {}
    for name in race.extensions:
        gate.check(race.network, name, race.device)
        subject = build(Case(race.network, race.batch_size, race.device, race.region, name))
        setup, target = REGIONS[race.region](subject)

        def one(setup=setup, target=target) -> None:
            args, _ = setup()
            target(*args)

        entrants[name] = one
    names = list(entrants)
    memory = {name: peak_memory(entrants[name], torch.device(race.device))[0] for name in names}
    rounds, warmup = bench_rounds
    times: dict[str, list[float]] = {name: [] for name in names}
    count = [0]

    def one_round() -> None:
        shift = count[0] % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            entrants[name]()
            times[name].append(time.perf_counter() - start)
        count[0] += 1

    for _ in range(warmup):
        one_round()
    for name in names:
        times[name].clear()
    benchmark.group = f"{race.network} b={race.batch_size} {race.device} race"
    benchmark.extra_info.update(
        kind="race", network=race.network, batch_size=race.batch_size, device=race.device,
        region=race.region, round_times_s=times, peak_memory_bytes=memory,
        torch_threads=torch.get_num_threads(),
    )  # fmt: skip
    benchmark.pedantic(one_round, rounds=rounds, warmup_rounds=0, iterations=1)
    assert all(len(t) == rounds for t in times.values())
