"""CONTRIBUTING.md's example of a problem on a dataset torchvision reads that ggnbench lacked.

Kuzushiji-MNIST (torchvision's ``KMNIST``, MNIST's file format) with DeepOBS's logistic
regression: one :data:`DATASET` entry and one :data:`PROBLEM` entry, put into
``ggnbench.workload.data.DATASETS`` and ``ggnbench.workload.problems.PROBLEMS`` (the tests
do that in-process, or in every process of a workflow through a ``sitecustomize``
module). The command line, the schema, the study and the rules follow. The entries
describe the small stand-in the tests write (:data:`TRAIN`, :data:`TEST` images); the
real dataset's entry gives 60,000 and 10,000 and the files' SHA-256.
"""

from __future__ import annotations

from ggnbench.workload import models
from ggnbench.workload.dataset_spec import DatasetSpec
from ggnbench.workload.idx import IdxContent
from ggnbench.workload.problems import Problem

#: The stand-in's sizes (tests write it with ``ggnbench.workload.synthetic.write_mnist``).
TRAIN, TEST = 700, 200

DATASET = DatasetSpec(
    "kmnist", "KMNIST", ("folder", "torchvision"),
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
    "t10k-labels-idx1-ubyte (or their .gz files)",
    IdxContent(examples={"train": TRAIN, "t10k": TEST}),
)  # fmt: skip

PROBLEM = Problem("kmnist_logreg", "kmnist", models.logreg, 128, (1, 28, 28), 10)
