"""The figures: one style per optimizer everywhere, readable axes, and which figures apply."""

from __future__ import annotations

from ggnbench.styles import optimizer_styles


def test_styles_follow_the_registry_then_sorted_other_names():
    from ggnbench.optim import OPTIMIZERS
    from ggnbench.styles import MARKERS, PALETTE

    one = optimizer_styles(["z.mod:Z", "a.mod:A", "sgd"])
    other = optimizer_styles(["a.mod:A", "z.mod:Z"])
    assert one == other  # the order given does not matter
    n = len(OPTIMIZERS)
    assert [one[name].color for name in OPTIMIZERS] == list(PALETTE[:n])
    assert (one["a.mod:A"].color, one["z.mod:Z"].color) == (PALETTE[n], PALETTE[n + 1])
    assert len({(s.color, s.marker) for s in one.values()}) == len(one)
    assert one["a.mod:A"].marker == MARKERS[n % len(MARKERS)]
    assert (one["diag_ggn_mc"].label, one["diag_ggn_exact"].label) == (
        "DiagGGN-MC", "exact DiagGGN",
    )  # fmt: skip
    assert one["a.mod:A"].label == "a.mod:A"
