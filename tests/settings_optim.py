"""Test cases for the curvature tests: small networks as data, kept apart from the tests."""

from __future__ import annotations

from torch import nn


def conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 5),
        nn.ReLU(),
        nn.Linear(5, 4),
    )


def mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Linear(6, 4))


CASES = [
    {
        "id": "conv-relu-maxpool-linear",
        "model_fn": conv_net,
        "input_shape": (1, 8, 8),
        "classes": 4,
    },
    {"id": "mlp", "model_fn": mlp, "input_shape": (1, 4, 4), "classes": 4},
]
