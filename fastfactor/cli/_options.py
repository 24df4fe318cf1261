"""Value types of the command's options: a value out of range is a usage error.

argparse turns what these types refuse into a usage error (exit 2) before any
data is read: ``-k -3`` or ``--max-iter 0`` is a mistake in the command line,
whatever the data. Values that are only wrong for a given data file (a rank
above its size) are left to the estimators, and are bad input (exit 3).
"""
import argparse
import math

SEED_LIMIT = 2 ** 32  # numpy's RandomState takes seeds in [0, 2**32)


def parse_value(text):
    """Command-line text to a Python value: int, float, bool, None, or the string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _option_type(convert, accept, expected):
    """An argparse type: ``convert(text)``, refused unless ``accept`` holds for the value."""
    def option_type(text):
        try:
            value = convert(text)
        except ValueError:
            pass
        else:
            if accept(value):
                return value
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")

    return option_type


def integer(minimum):
    """An argparse type for an int ``>= minimum``."""
    return _option_type(int, lambda v: v >= minimum, f"an integer >= {minimum}")


def real(minimum, inclusive=True):
    """An argparse type for a finite float ``>= minimum`` (``> minimum`` if not inclusive)."""
    op = ">=" if inclusive else ">"
    return _option_type(
        float, lambda v: math.isfinite(v) and (v >= minimum if inclusive else v > minimum),
        f"a number {op} {minimum:g}")


def _is_n_components(value):
    """A rank, an energy fraction (svd), 'auto' (nmf) or None (every feature)."""
    if value is None or value == "auto":
        return True
    if isinstance(value, bool):
        return False
    return (isinstance(value, int) and value >= 1) or (isinstance(value, float)
                                                       and 0.0 < value < 1.0)


n_components = _option_type(parse_value, _is_n_components,
                            "a positive integer, a fraction in (0, 1), 'auto' or 'none'")
seed = _option_type(int, lambda v: 0 <= v < SEED_LIMIT, "an integer in [0, 2**32)")
