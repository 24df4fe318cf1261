"""Save and load fitted models without pickle: npz arrays + JSON metadata.

A model file is an ``.npz`` archive holding every fitted array and a
``__fastfactor__`` entry with JSON metadata: the class, its parameters, the
scalar fitted attributes, library versions and anything the caller adds
(loss history, timings). Loading never unpickles, so a model file from an
untrusted source cannot run code.
"""
import json
import platform
import zipfile

import numpy as np

from ._utils.atomic import atomic_path
from ._utils.encoding import jsonable
from ._version import __version__

FORMAT = "fastfactor-model"
FORMAT_VERSION = 1
_META_KEY = "__fastfactor__"


class ModelFileError(ValueError):
    """The file is not a (complete, compatible) fastfactor model file."""


def _estimator_classes():
    # the families, not the package root: persistence is imported by the root
    from .mixture import GaussianMixture
    from .nmf import NMF, DeepNMF, MiniBatchNMF
    from .sparse_coding import (DictionaryLearning, MiniBatchDictionaryLearning,
                                SparseAutoencoder, SparseCoder)
    from .svd import TruncatedSVD

    classes = (GaussianMixture, NMF, DeepNMF, MiniBatchNMF, DictionaryLearning,
               MiniBatchDictionaryLearning, SparseAutoencoder, SparseCoder, TruncatedSVD)
    return {cls.__name__: cls for cls in classes}


def model_state(model):
    """Split a fitted model into (arrays, metadata) without pickling anything."""
    arrays, params, scalars = {}, {}, {}
    for name, value in model.get_params(deep=False).items():
        if isinstance(value, np.ndarray):
            arrays[f"param:{name}"] = value
            continue
        ok, conv = jsonable(value)
        if not ok:
            raise TypeError(f"parameter {name}={value!r} of {type(model).__name__} cannot be "
                            "saved without pickle; use an int seed or None for random_state")
        params[name] = conv
    for name, value in vars(model).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                value = value.astype(str)
            arrays[f"attr:{name}"] = value
            continue
        ok, conv = jsonable(value)
        if not ok:
            raise TypeError(f"fitted attribute {name} of {type(model).__name__} "
                            f"({type(value).__name__}) cannot be saved without pickle")
        scalars[name] = conv
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "class": type(model).__name__,
            "params": params, "attributes": scalars}
    return arrays, meta


def save(model, path, *, extra=None, force=True):
    """Save a fitted fastfactor estimator to ``path`` (an ``.npz`` file), atomically.

    Parameters
    ----------
    model : fitted fastfactor estimator
    path : str or Path
        Destination; written through a temporary file and renamed, so a
        crash never leaves a partial file.
    extra : dict, optional
        JSON-friendly metadata to store alongside (e.g. timings, command line).
    force : bool, default=True
        Overwrite an existing file.
    """
    if not any(k.endswith("_") and not k.startswith("_") for k in vars(model)):
        raise ValueError(f"{type(model).__name__} is not fitted: nothing to save")
    arrays, meta = model_state(model)
    meta["versions"] = {"fastfactor": __version__, "numpy": np.__version__,
                        "python": platform.python_version()}
    if extra:
        ok, conv = jsonable(extra)
        if not ok:
            raise TypeError("extra metadata must be JSON-friendly")
        meta["extra"] = conv
    arrays[_META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_path(path, force=force) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_metadata(path):
    """Return the JSON metadata of a model file (raises ModelFileError if it is not one)."""
    return _open(path)[1]


def _open(path):
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path} is not a fastfactor model file (unreadable or "
                             f"truncated: {exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile) or _META_KEY not in archive.files:
        raise ModelFileError(f"{path} is not a fastfactor model file (no metadata)")
    try:
        meta = json.loads(archive[_META_KEY].tobytes().decode())
    except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: corrupted metadata ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a fastfactor model file")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path} was written by a newer fastfactor (format "
                             f"{meta.get('format_version')}); upgrade to read it")
    return archive, meta


def load(path):
    """Load a model saved by :func:`save`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    estimator
        A fitted estimator of the saved class.

    Raises
    ------
    ModelFileError
        For a truncated, corrupted or foreign file (a ``ValueError``).
    """
    archive, meta = _open(path)
    classes = _estimator_classes()
    cls = classes.get(meta.get("class"))
    if cls is None:
        raise ModelFileError(f"{path} holds a {meta.get('class')!r} model, which this "
                             "version of fastfactor does not know")
    params = dict(meta.get("params", {}))
    try:
        for key in archive.files:
            if key.startswith("param:"):
                params[key[len("param:"):]] = archive[key]
        model = cls(**params)
        for name, value in meta.get("attributes", {}).items():
            setattr(model, name, value)
        for key in archive.files:
            if key.startswith("attr:"):
                value = archive[key]
                if value.dtype.kind == "U":  # saved from an object array of str
                    value = value.astype(object)
                setattr(model, key[len("attr:"):], value)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, TypeError) as exc:
        raise ModelFileError(f"{path}: corrupted model file ({exc})") from exc
    model.__dict__.setdefault("_fastfactor_metadata", meta)
    return model
