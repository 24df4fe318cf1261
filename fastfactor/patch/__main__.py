"""``python -m fastfactor.patch [-m MODULE | SCRIPT] [args ...]``: run a program patched.

Like ``python SCRIPT args`` or ``python -m MODULE args``, with scikit-learn's
estimators and functions replaced by fastfactor's (see
:func:`fastfactor.patch.patch_sklearn`) before the program starts.
"""
import runpy
import sys

from . import patch_sklearn

USAGE = "usage: python -m fastfactor.patch [-m MODULE | SCRIPT] [args ...]"


def main(argv=None):
    """Patch scikit-learn, then run the script or module named in ``argv``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        module, args = argv[1], argv[2:]
        patch_sklearn()
        sys.argv = [module] + args
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    script, args = argv[0], argv[1:]
    patch_sklearn()
    sys.argv = [script] + args
    sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
