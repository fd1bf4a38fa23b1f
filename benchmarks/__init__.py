"""Benchmarks of the lesson's code on this machine, run as commands.

`python -m benchmarks.training` times training, inference and data preparation;
`python -m benchmarks.data DIR` compares the reference's NumPy loader with the
pipeline; `python -m benchmarks.truthful_bn` checks that validation logged during
training describes the model. results/benchmark.md holds the first two's output on
this project's machine.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the checkout: utils/, benchmarks/
