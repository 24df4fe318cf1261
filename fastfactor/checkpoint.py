"""Restartable fits: periodic atomic checkpoints of the complete solver state.

An estimator that supports checkpoints has ``_fit_checkpointed(X, callback,
resume)``: it calls ``callback(state)`` after every iteration with its full
state (arrays plus JSON-friendly values) and continues exactly from such a
state when given ``resume``. This module writes those states to disk every
``every`` iterations (temporary file + rename, so a kill at any moment leaves
either the previous or the new checkpoint, never a broken one), reads them
back, and turns SIGINT/SIGTERM into "write a last checkpoint, then stop".
"""
import json
import signal
import zipfile
from contextlib import contextmanager

import numpy as np

from ._utils.atomic import atomic_path
from ._utils.encoding import encode_rng_state, jsonable, restore_rng  # noqa: F401 (re-exported)

_META_KEY = "__checkpoint__"
FORMAT = "fastfactor-checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used to resume this fit."""


class Interrupted(Exception):
    """The fit was stopped by a signal after its state was saved."""


def supports_checkpoints(estimator):
    """True when ``estimator`` can report and resume its fit state."""
    return callable(getattr(estimator, "_fit_checkpointed", None))


def data_fingerprint(X):
    """Shape, dtype and a cheap checksum of X, to refuse resuming on other data."""
    values = X.data if hasattr(X, "nnz") else np.asarray(X).ravel()
    step = max(1, values.size // 4096)
    sample = np.asarray(values[::step], dtype=np.float64)
    return {"shape": list(X.shape), "dtype": str(X.dtype),
            "nnz": int(X.nnz) if hasattr(X, "nnz") else None,
            "checksum": float(np.round(np.sum(sample * np.arange(1, sample.size + 1)), 6))}


def require_values(state, keys, fit):
    """Check that a resume state holds every entry ``fit`` needs.

    Parameters
    ----------
    state : dict
        A state read by :func:`read_checkpoint` (or passed to ``resume=``).
    keys : iterable of str
        The entries the fit reads.
    fit : str
        What is resumed, for the message (e.g. ``'MiniBatchDictionaryLearning'``).

    Raises
    ------
    CheckpointError
        Naming the missing entries (a bare KeyError said nothing useful).
    """
    missing = [key for key in keys if key not in state]
    if missing:
        raise CheckpointError(f"the checkpoint lacks {', '.join(map(repr, missing))}: it is "
                              f"incomplete or was not made by a {fit} fit")


def restored_array(state, key, shape, dtype=None):
    """A fresh C-contiguous copy of ``state[key]``, checked to have ``shape``.

    Parameters
    ----------
    state : dict
        A state read by :func:`read_checkpoint` (or passed to ``resume=``).
    key : str
        The array's name in the state.
    shape : tuple of int
        The shape this fit needs.
    dtype : dtype, optional
        Convert to this dtype (default: keep the stored one).

    Returns
    -------
    ndarray
        A copy, so the fit can update it in place without touching ``state``.

    Raises
    ------
    CheckpointError
        When the array is missing or has another shape.
    """
    if key not in state:
        raise CheckpointError(f"the checkpoint has no {key!r} array; it was not made by "
                              "this kind of fit")
    value = np.asarray(state[key])
    if value.shape != tuple(shape):
        raise CheckpointError(f"the checkpoint's {key!r} has shape {value.shape}, this fit "
                              f"needs {tuple(shape)}: it was made from other data or "
                              "parameters")
    return np.array(value, dtype=dtype, order="C", copy=True)


def write_checkpoint(path, state, header):
    """Write ``state`` (dict of arrays and JSON values) and ``header`` atomically."""
    arrays, values = {}, {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[key] = value
        else:
            ok, conv = jsonable(value)
            if not ok:
                raise TypeError(f"checkpoint value {key!r} is not JSON-friendly")
            values[key] = conv
    meta = dict(header, format=FORMAT, values=values)
    arrays[_META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_path(path, force=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_checkpoint(path, header):
    """Read a checkpoint and check it belongs to the fit described by ``header``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(archive[_META_KEY].tobytes().decode())
            state = {k: archive[k] for k in archive.files if k != _META_KEY}
    except FileNotFoundError:
        raise
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path} is not a readable fastfactor checkpoint ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a fastfactor checkpoint")
    for key in ("class", "params", "data"):
        if meta.get(key) != header.get(key):
            raise CheckpointError(
                f"{path} was made by a different fit ({key} differs: checkpoint has "
                f"{meta.get(key)!r}, this run has {header.get(key)!r}); remove it or "
                "run without --resume")
    state.update(meta["values"])
    return state


class Checkpointer:
    """The per-iteration callback: saves every ``every`` iterations and on a stop signal."""

    def __init__(self, path, header, every=10, progress=None):
        self.path, self.header, self.every = path, header, max(1, int(every))
        self.progress = progress
        self.stop_requested = None
        self.saved_iter = None

    def __call__(self, state):
        if self.progress is not None:
            self.progress(state)
        n_iter = int(state["n_iter"])
        if self.path is not None and (n_iter % self.every == 0 or self.stop_requested):
            write_checkpoint(self.path, state, self.header)
            self.saved_iter = n_iter
        if self.stop_requested:
            raise Interrupted(f"stopped by {self.stop_requested} after iteration {n_iter}"
                              + (f"; state saved to {self.path}" if self.path else ""))

    @contextmanager
    def stop_on_signals(self):
        """SIGINT/SIGTERM ask for a last checkpoint at the end of the current iteration."""
        previous = {}

        def handler(signum, frame):
            self.stop_requested = signal.Signals(signum).name

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
