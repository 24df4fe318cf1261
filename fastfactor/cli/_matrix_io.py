"""Reading inputs and writing outputs for the command line (and scripts).

Inputs: ``.npy`` (memory-mapped, not read whole), ``.npz`` (``file.npz`` with
one array, or ``file.npz:name``), Matrix Market ``.mtx`` (sparse, as CSR),
``.csv``/``.tsv`` (numbers; a non-numeric first line is taken as a header),
HDF5 datasets ``file.h5:/path`` (needs h5py), and images (``.png``, ``.jpg``
...: a grayscale image is its (H, W) pixel matrix, a colour one the (H, 3W)
matrix of its channels side by side; needs Pillow). Outputs: ``.npy``, ``.npz``,
``.csv``/``.tsv`` and ``.mtx``, always written atomically.
"""
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

from .._utils.atomic import atomic_path

INPUT_FORMATS = (".npy", ".npz", ".mtx", ".csv", ".tsv", ".txt", ".h5", ".hdf5", ".png", ".jpg",
                 ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
IMAGE_FORMATS = INPUT_FORMATS[8:]
OUTPUT_FORMATS = (".npy", ".npz", ".csv", ".tsv", ".mtx")


class InputError(ValueError):
    """A user input that cannot be read as data."""


def _split_spec(spec):
    """'file.npz:name' -> (Path('file.npz'), 'name'); a plain path -> (Path, None)."""
    text = str(spec)
    for ext in (".npz:", ".h5:", ".hdf5:"):
        idx = text.lower().find(ext)
        if idx >= 0:
            cut = idx + len(ext) - 1
            return Path(text[:cut]), text[cut + 1:]
    return Path(text), None


def read_matrix(spec):
    """Read a 2-D data matrix from ``spec``; returns an ndarray, a memmap or a CSR matrix.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InputError
        Unknown format, unreadable content, a missing array name, or not 2-D.
    """
    path, name = _split_spec(spec)
    if not path.exists():
        raise FileNotFoundError(f"input file {path} does not exist")
    if path.is_dir():
        raise InputError(f"input {path} is a directory, not a data file")
    ext = path.suffix.lower()
    try:
        if ext == ".npy":
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        elif ext == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = archive.files
                if name is None:
                    if len(names) != 1:
                        raise InputError(f"{path} holds arrays {names}; name one as "
                                         f"{path}:NAME")
                    name = names[0]
                if name not in names:
                    raise InputError(f"{path} has no array {name!r} (it has {names})")
                X = archive[name]
        elif ext == ".mtx":
            X = sp.csr_matrix(scipy.io.mmread(path))
        elif ext in (".csv", ".tsv", ".txt"):
            X = _read_text(path, "\t" if ext == ".tsv" else ("," if ext == ".csv" else None))
        elif ext in (".h5", ".hdf5"):
            X = _read_hdf5(path, name)
        elif ext in IMAGE_FORMATS:
            X = _read_image(path)
        else:
            raise InputError(f"unknown input format {ext!r} for {path}; expected one of "
                             f"{', '.join(INPUT_FORMATS)}")
    except InputError:
        raise
    except (ValueError, OSError, EOFError, KeyError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    if X.ndim != 2:
        raise InputError(f"{spec} holds a {X.ndim}-D array of shape {X.shape}; a 2-D "
                         "matrix (samples x features) is needed")
    return X


def _read_text(path, delimiter):
    with open(path, "r") as fh:
        first = fh.readline()
    skip = 0
    try:
        [float(v) for v in first.replace(",", " ").split()]
    except ValueError:
        skip = 1  # a header line
    X = np.loadtxt(path, delimiter=delimiter, skiprows=skip, ndmin=2)
    return X


def _read_image(path):
    """An image as a matrix: (H, W) for grayscale, (H, 3W) channels side by side for colour."""
    from ..image import load_image

    img = load_image(path)
    if img.ndim == 3:
        img = np.concatenate([img[:, :, c] for c in range(img.shape[2])], axis=1)
    return img


def _read_hdf5(path, name):
    try:
        import h5py
    except ImportError as exc:
        raise InputError("reading HDF5 needs h5py: pip install 'fastfactor[hdf5]'") from exc
    if not name:
        raise InputError(f"name the dataset of {path} as {path}:/path/to/dataset")
    with h5py.File(path, "r") as fh:
        if name not in fh:
            raise InputError(f"{path} has no dataset {name!r}")
        return fh[name][...]


def write_matrix(path, X, force=False):
    """Write a matrix atomically, in the format given by the extension."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format {ext!r} for {path}; expected one of "
                         f"{', '.join(OUTPUT_FORMATS)}")
    with atomic_path(path, force=force) as tmp:
        if ext == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, np.asarray(X.toarray() if sp.issparse(X) else X))
        elif ext == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, data=np.asarray(X.toarray() if sp.issparse(X) else X))
        elif ext == ".mtx":
            with open(tmp, "wb") as fh:
                scipy.io.mmwrite(fh, sp.coo_matrix(X))
        else:
            np.savetxt(tmp, np.asarray(X.toarray() if sp.issparse(X) else X),
                       delimiter="\t" if ext == ".tsv" else ",")
