"""The problems and their data.

Datasets and where they come from, networks, batches (the tensor and PIL paths) and
evaluation passes.
"""
