"""The study and its execution.

The plan and its file layout, config checks, the tuning's choice, the results lock,
healing, the benchmark suite and the end-to-end benchmark.
"""
