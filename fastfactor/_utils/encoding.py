"""JSON-friendly encodings of the values model files and checkpoints store."""
import numpy as np


def jsonable(value):
    """``(True, value as plain JSON types)``, or ``(False, None)`` when it has none."""
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, (int, np.integer)):
        return True, int(value)
    if isinstance(value, (float, np.floating)):
        return True, float(value)
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            ok, conv = jsonable(v)
            if not ok:
                return False, None
            out.append(conv)
        return True, out
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        out = {}
        for k, v in value.items():
            ok, conv = jsonable(v)
            if not ok:
                return False, None
            out[k] = conv
        return True, out
    return False, None



def encode_rng_state(random_state):
    """A ``RandomState``'s state as JSON-friendly values, for a checkpoint.

    Parameters
    ----------
    random_state : numpy.random.RandomState

    Returns
    -------
    list
        ``[name, keys, pos, has_gauss, cached_gaussian]``; :func:`restore_rng`
        turns it back into a generator that continues the same stream.
    """
    name, keys, pos, has_gauss, cached = random_state.get_state()
    return [name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)]


def restore_rng(encoded):
    """A new ``RandomState`` at the point :func:`encode_rng_state` recorded.

    Parameters
    ----------
    encoded : list
        A value written by :func:`encode_rng_state`.

    Returns
    -------
    numpy.random.RandomState
    """
    name, keys, pos, has_gauss, cached = encoded
    rng = np.random.RandomState()
    rng.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss),
                   float(cached)))
    return rng
