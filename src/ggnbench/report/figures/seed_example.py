"""The seed example's figure: ggnbench's runs of BackPACK's DiagGGN example beside its output."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ggnbench.report.figures.common import figure_legend
from ggnbench.report.figures.registry import drawing


@drawing("seed_example")
def seed_example(trace: pd.DataFrame, table: pd.DataFrame) -> plt.Figure:
    """The reference example's two panels, loss and accuracy per iteration.

    Args:
        trace: The ``seed_example_trace`` table.
        table: The ``seed_example`` table (published numbers).

    Returns:
        Two panels; lines for ggnbench's runs, black markers for the published output.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, quantity in zip(axes, ("loss", "accuracy"), strict=True):
        sns.lineplot(data=trace, x="step", y=quantity, hue="variant", ax=ax, linewidth=1)
        ax.scatter(table.step, table[f"paper_{quantity}"], color="black", marker="x",
                   zorder=3, label="printed in the example")  # fmt: skip
        if quantity == "loss":
            ax.set_yscale("log")  # kept gradients can blow the loss up by orders of magnitude
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"minibatch {quantity}")
    data = trace["data"].iloc[0] if len(trace) else ""
    fig.suptitle(f"BackPACK DiagGGN example on {data}")
    fig.tight_layout()
    figure_legend(fig, axes[0].get_legend_handles_labels()[0])
    for ax in axes:
        ax.get_legend().remove()
    return fig
