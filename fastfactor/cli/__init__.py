"""The ``fastfactor`` command (batch jobs, images, self-test, demo, benchmarks)."""
from ._main import main

__all__ = ["main"]
