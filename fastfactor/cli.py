"""The ``fastfactor`` command.

Exit codes: 0 success, 2 usage error, 3 bad input, 4 interrupted.
"""
import argparse
import platform
import sys

EXIT_OK, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 3, 4


def _cmd_info(args):
    import numpy as np
    import scipy
    import threadpoolctl

    from . import __version__
    from ._threads import effective_n_threads, openmp_enabled

    print(f"fastfactor {__version__}")
    print(f"python     {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}")
    print(f"openmp     {'on' if openmp_enabled() else 'OFF (kernels run on one thread)'}")
    print(f"threads    {effective_n_threads()} (follows OMP_NUM_THREADS / threadpoolctl)")
    for lib in threadpoolctl.threadpool_info():
        print(f"pool       {lib.get('internal_api')}: {lib.get('num_threads')} threads "
              f"({lib.get('filepath')})")
    return EXIT_OK


def _cmd_selftest(args):
    from . import selftest

    ok, _ = selftest.run(verbose=True, timing=not args.no_timing)
    return EXIT_OK if ok else 1


def _cmd_demo(args):
    from . import demo

    demo.run()
    return EXIT_OK


def build_parser():
    """The argument parser of the ``fastfactor`` command."""
    parser = argparse.ArgumentParser(
        prog="fastfactor",
        description="Fast matrix factorization: NMF, Gaussian mixtures, sparse coding, SVD.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("info", help="version, OpenMP, threads, BLAS")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("selftest", help="compare every kernel with its numpy twin")
    p.add_argument("--no-timing", action="store_true", help="skip the speed comparison")
    p.set_defaults(func=_cmd_selftest)
    p = sub.add_parser("demo", help="run each model family on built-in data vs numpy")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None):
    """Entry point; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("fastfactor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError) as exc:
        print(f"fastfactor: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
