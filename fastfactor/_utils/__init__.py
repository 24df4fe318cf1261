"""Helpers shared by every family: validation, threads (every thread threshold), the Dask
block runner, atomic writes, JSON/random-state encoding and small linear-algebra helpers."""
