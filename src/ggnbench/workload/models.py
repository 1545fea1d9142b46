"""The networks of the problems, built from layers that BackPACK supports.

TensorFlow-style ``same`` padding (DeepOBS's convention) is an explicit
``ZeroPad2d`` before a convolution or pooling layer, so every layer has a BackPACK
extension. Zero padding before max pooling equals TensorFlow's ignore-padding
behaviour here because it always follows a ReLU (inputs >= 0).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Right/bottom padding that TensorFlow's ``same`` adds for stride 2 on even sizes.
_SAME_STRIDE2 = (0, 1, 0, 1)


def mnist_cnn() -> nn.Sequential:
    """The network of BackPACK's DiagGGN example.

    Returns:
        Conv(1,20,5) ReLU MaxPool(2) Conv(20,50,5) ReLU MaxPool(2) Flatten
        Linear(800,500) ReLU Linear(500,10), with torch's default initialization.
    """
    return nn.Sequential(
        nn.Conv2d(1, 20, 5, 1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 5, 1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 50, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )


def logreg() -> nn.Sequential:
    """DeepOBS logistic regression for 28x28 images, zero-initialized.

    Returns:
        Flatten Linear(784, 10).
    """
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.zeros_(net[1].weight)
    nn.init.zeros_(net[1].bias)
    return net


def net_2c2d() -> nn.Sequential:
    """DeepOBS 2C2D for (Fashion-)MNIST.

    Returns:
        Two same-padded 5x5 convolutions (32, 64) with ReLU and 2x2 max pooling,
        then Linear(3136, 1024) ReLU Linear(1024, 10); biases 0.05 and weights from a
        normal with std 0.05 truncated at two std, drawn as DeepOBS draws them
        (:func:`deepobs_truncated_normal_`).
    """
    net = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(7 * 7 * 64, 1024),
        nn.ReLU(),
        nn.Linear(1024, 10),
    )
    for module in net.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.constant_(module.bias, 0.05)
            deepobs_truncated_normal_(module.weight, std=0.05)
    return net


def deepobs_truncated_normal_(weight: Tensor, std: float) -> Tensor:
    """Fill a weight as DeepOBS's PyTorch modules do: a normal truncated at two std.

    DeepOBS draws the samples with scipy from a NumPy random state whose seed it draws
    from torch's global RNG (``torch.randint(0, 2**32 - 1, (1, 1))``), so that a torch
    seed fixes the network; doing the same draws in the same order makes a seed give
    DeepOBS's own network, weight for weight.

    Args:
        weight: The tensor to fill, in place.
        std: Standard deviation before truncation (the mean is 0).

    Returns:
        The filled tensor.
    """
    import numpy as np
    from scipy.stats import truncnorm

    seed = torch.randint(0, 2**32 - 1, (1, 1)).view(-1).item()
    samples = truncnorm.rvs(
        a=-2, b=2, loc=0, scale=std, size=weight.numel(), random_state=np.random.RandomState(seed)
    )
    with torch.no_grad():
        weight.copy_(torch.from_numpy(samples.reshape(tuple(weight.shape))).type_as(weight))
    return weight


def net_3c3d(num_outputs: int = 10) -> nn.Sequential:
    """DeepOBS 3C3D for CIFAR-10.

    Args:
        num_outputs: Number of classes.

    Returns:
        Conv(3,64,5) Conv(64,96,3) Conv(96,128,3,same), each with ReLU and 3x3
        stride-2 same max pooling, then Linear(1152,512) Linear(512,256) with ReLU
        and Linear(256, num_outputs); Xavier weights, zero biases.
    """
    net = nn.Sequential(
        nn.Conv2d(3, 64, 5),
        nn.ReLU(),
        nn.ZeroPad2d(_SAME_STRIDE2),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 96, 3),
        nn.ReLU(),
        nn.ZeroPad2d(_SAME_STRIDE2),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 128, 3, padding=1),
        nn.ReLU(),
        nn.ZeroPad2d(_SAME_STRIDE2),
        nn.MaxPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 128, 512),
        nn.ReLU(),
        nn.Linear(512, 256),
        nn.ReLU(),
        nn.Linear(256, num_outputs),
    )
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.xavier_normal_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return net


def _conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """A convolution with TensorFlow ``same`` padding (odd kernel), then ReLU."""
    if stride == 2:
        return [nn.ZeroPad2d(_SAME_STRIDE2), nn.Conv2d(c_in, c_out, kernel, stride=2), nn.ReLU()]
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.ReLU()]


def allcnnc(num_outputs: int = 100) -> nn.Sequential:
    """DeepOBS All-CNN-C for CIFAR-100.

    Args:
        num_outputs: Number of classes.

    Returns:
        Dropout(0.2), three blocks of 3x3 convolutions (96, 96, 96/stride 2;
        192, 192, 192/stride 2) with dropout 0.5 after the first two blocks,
        Conv(192,192,3,valid) Conv(192,192,1) Conv(192,num_outputs,1) with ReLU,
        and a spatial mean (6x6 average pooling); Xavier weights, biases 0.1.
    """
    net = nn.Sequential(
        nn.Dropout(0.2),
        *_conv(3, 96, 3),
        *_conv(96, 96, 3),
        *_conv(96, 96, 3, stride=2),
        nn.Dropout(0.5),
        *_conv(96, 192, 3),
        *_conv(192, 192, 3),
        *_conv(192, 192, 3, stride=2),
        nn.Dropout(0.5),
        nn.Conv2d(192, 192, 3),
        nn.ReLU(),
        *_conv(192, 192, 1),
        *_conv(192, num_outputs, 1),
        nn.AvgPool2d(6),
        nn.Flatten(),
    )
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.xavier_normal_(module.weight)
            nn.init.constant_(module.bias, 0.1)
    return net


def digits_cnn() -> nn.Sequential:
    """A small CNN for scikit-learn's 8x8 digits.

    Returns:
        Conv(1,16,3,same) ReLU MaxPool(2) Conv(16,32,3,same) ReLU MaxPool(2)
        Flatten Linear(128,64) ReLU Linear(64,10).
    """
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(2 * 2 * 32, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
