"""The optimizers and the curvature they read.

The registry and the hyperparameters, DiagGGN, the K-FAC family, the native GGN diagonal,
optimizers by import path, and the autograd references their tests use.
"""
