"""Helpers shared by every family: validation, threads, Dask blocks, atomic writes."""
