"""The ``fastfactor`` command.

Exit codes: 0 success, 2 usage error (including an option value out of range,
see :mod:`._options`), 3 bad input, 4 interrupted.
"""
import argparse
import json
import platform
import sys
import time

from . import _options as options
from ._options import parse_value

EXIT_OK, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 3, 4

# model kind on the command line -> estimator class in the fastfactor namespace
MODELS = {
    "nmf": "NMF",
    "gmm": "GaussianMixture",
    "dict": "MiniBatchDictionaryLearning",
    "svd": "TruncatedSVD",
}
# model kinds whose fit runs on a dask cluster (--scheduler/--dask-workers)
DASK_MODELS = ("nmf", "gmm", "svd")
# options every model kind has, mapped to estimator parameters
COMMON_OPTIONS = {"n_components": "-k/--n-components", "max_iter": "--max-iter", "tol": "--tol",
                  "random_state": "--seed", "n_threads": "--threads"}
# model kinds whose fit has no iterations to checkpoint, and why
NOT_ITERATIVE = {
    "svd": "a truncated SVD is computed in one pass (a few power iterations of a "
           "randomized range finder), not by iterations that could be resumed",
}


class UsageError(Exception):
    """A command line that is well-formed for argparse but asks for the impossible."""


def _model_class(kind):
    import fastfactor

    cls = getattr(fastfactor, MODELS[kind], None)
    if cls is None:
        raise UsageError(f"model {kind!r} ({MODELS[kind]}) is not available in this version "
                         "of fastfactor")
    return cls


class Progress:
    """Per-iteration progress on stderr: a live line on a terminal, log lines otherwise."""

    def __init__(self, max_iter, quiet=False, stream=None):
        self.stream = stream or sys.stderr
        self.max_iter, self.quiet = max_iter, quiet
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.first_iter = None
        self.last_log = 0.0

    def __call__(self, state):
        if self.quiet:
            return
        n_iter = int(state["n_iter"])
        # fits whose iterations are not max_iter's unit (mini-batch steps) give their total
        total = int(state.get("n_iter_max", self.max_iter))
        if self.first_iter is None:
            self.first_iter = n_iter - 1
        elapsed = time.perf_counter() - self.start
        done = n_iter - self.first_iter
        rate = done / elapsed if elapsed > 0 else float("inf")
        eta = (total - n_iter) / rate if rate > 0 else float("inf")
        losses = state.get("losses") or []
        value = state.get("loss", losses[-1] if losses else None)
        loss = "loss -" if value is None else f"loss {value:.6g}"
        line = (f"iter {n_iter}/{total}  {loss}  {rate:.1f} it/s  "
                f"ETA {eta:.0f} s")
        if self.tty:
            width = 30
            filled = int(width * n_iter / max(total, 1))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {line}   ")
            self.stream.flush()
        elif elapsed - self.last_log >= 1.0 or n_iter == total:
            self.last_log = elapsed
            print(line, file=self.stream, flush=True)

    def close(self):
        if self.tty and not self.quiet and self.first_iter is not None:
            self.stream.write("\n")


def _cmd_info(args):
    import numpy as np
    import scipy
    import threadpoolctl

    from .._version import __version__
    from ..kernels import _dispatch
    from .._utils.threads import effective_n_threads, openmp_enabled

    print(f"fastfactor {__version__}")
    print(f"python     {platform.python_version()}  numpy {np.__version__}  scipy {scipy.__version__}")
    print(f"openmp     {'on' if openmp_enabled() else 'OFF (kernels run on one thread)'}")
    print(f"threads    {effective_n_threads()} (follows OMP_NUM_THREADS / threadpoolctl)")
    print(f"simd       {_dispatch.summary()}")
    for lib in threadpoolctl.threadpool_info():
        print(f"pool       {lib.get('internal_api')}: {lib.get('num_threads')} threads "
              f"({lib.get('filepath')})")
    return EXIT_OK


def _cmd_selftest(args):
    from .. import selftest

    ok, _ = selftest.run(verbose=True, timing=not args.no_timing)
    return EXIT_OK if ok else 1


def _cmd_demo(args):
    from . import _demo as demo

    demo.run(quick=args.quick)
    return EXIT_OK


def _cmd_bench(args):
    from .. import bench

    only = args.only.split(",") if args.only else None
    log = None if args.json else (lambda m: print(m, file=sys.stderr))
    rows = bench.run(quick=args.quick, only=only, log=log)
    if args.json:
        print(json.dumps({"machine": bench.machine_summary(), "rows": rows}))
    else:
        print(f"Measured on {bench.machine_summary()}; every ratio side by side in this run.\n")
        print(bench.markdown(rows))
    return EXIT_OK


def _add_model_options(parser, cls):
    """One option per estimator parameter, named after it (plus the common short forms)."""
    params = cls().get_params(deep=False)
    parser.add_argument("-k", "--n-components", dest="n_components", type=options.n_components,
                        help="number of components (svd: or the energy fraction to keep)")
    parser.add_argument("--max-iter", dest="max_iter", type=options.integer(1),
                        help="maximum iterations")
    parser.add_argument("--tol", type=options.real(0.0), help="stopping tolerance")
    parser.add_argument("--seed", dest="random_state", type=options.seed, help="random seed")
    parser.add_argument("--threads", dest="n_threads", type=options.integer(1),
                        help="threads for the kernels (default: OpenMP's setting)")
    for name, default in sorted(params.items()):
        if name in COMMON_OPTIONS:
            continue
        flag = "--" + name.replace("_", "-")
        # absent stays absent, so that an explicit "none" reaches the estimator
        parser.add_argument(flag, dest=name, type=parse_value, metavar="VALUE",
                            default=argparse.SUPPRESS,
                            help=f"{cls.__name__}({name}=...), default {default!r}")
    return [n for n in params]


def _estimator_from_args(kind, args):
    cls = _model_class(kind)
    params = {}
    valid = cls().get_params(deep=False)
    for name in valid:
        if name in COMMON_OPTIONS:  # typed options: None means not given
            if getattr(args, name, None) is not None:
                params[name] = getattr(args, name)
        elif hasattr(args, name):
            params[name] = getattr(args, name)
    threads = getattr(args, "n_threads", None)
    if threads is not None and "n_threads" not in valid and "n_jobs" in valid:
        params["n_jobs"] = threads
    return cls(**params)


def _thread_limit(args):
    """--threads also caps OpenMP itself, for models whose threads are not a parameter."""
    import contextlib

    import threadpoolctl

    threads = getattr(args, "n_threads", None)
    if threads is None:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(threads, user_api="openmp")


def _load_input(spec, dtype):
    import numpy as np
    import scipy.sparse as sp

    from ._matrix_io import read_matrix

    X = read_matrix(spec)
    if dtype is not None:
        X = X.astype(dtype) if sp.issparse(X) else np.asarray(X, dtype=dtype)
    return X


def _summary(model):
    out = {}
    for key in ("n_iter_", "reconstruction_err_", "lower_bound_", "converged_",
                "n_components_", "n_features_in_"):
        value = getattr(model, key, None)
        if value is not None:
            out[key.rstrip("_")] = value.item() if hasattr(value, "item") else value
    return out


def _cmd_fit(args):
    from .. import checkpoint as ckpt
    from .._utils.atomic import check_writable
    from ..persistence import save

    check_writable(args.output, force=args.force)
    model = _estimator_from_args(args.model, args)
    resumable = _check_checkpoint_args(args, model)  # before any slow loading
    X = _load_input(args.input, args.dtype)
    client = _dask_client(args)
    if client is not None:
        X = _as_dask(X, client)
    start = time.perf_counter()
    max_iter = model.get_params().get("max_iter", 0) or 0
    progress = Progress(max_iter, quiet=args.quiet)
    try:
        if resumable:
            _, meta = model_state_params(model)
            header = {"class": type(model).__name__, "params": meta,
                      "data": ckpt.data_fingerprint(X)}
            resume = None
            if args.resume:
                from pathlib import Path

                if Path(args.checkpoint).exists():
                    resume = ckpt.read_checkpoint(args.checkpoint, header)
                    if not args.quiet:
                        print(f"resuming from iteration {int(resume['n_iter'])} "
                              f"({args.checkpoint})", file=sys.stderr)
            saver = ckpt.Checkpointer(args.checkpoint, header, args.checkpoint_every,
                                      progress=progress)
            with saver.stop_on_signals(), _thread_limit(args):
                model._fit_checkpointed(X, callback=saver, resume=resume)
        else:
            with _thread_limit(args):
                model.fit(X)
    finally:
        progress.close()
    seconds = time.perf_counter() - start
    if client is not None:
        client.close()
    info = {"model": args.model, "input": str(args.input), "shape": list(X.shape),
            "seconds": round(seconds, 4), "output": str(args.output), **_summary(model)}
    save(model, args.output, force=args.force,
         extra={"seconds": seconds, "input": str(args.input), "command": sys.argv[1:]})
    if args.json:
        print(json.dumps(info))
    elif not args.quiet:
        print(f"fitted {type(model).__name__} on {X.shape[0]}x{X.shape[1]} in {seconds:.2f} s"
              + "".join(f", {k} {v:.6g}" if isinstance(v, float) else f", {k} {v}"
                        for k, v in _summary(model).items())
              + f" -> {args.output}")
    return EXIT_OK


def _check_checkpoint_args(args, model):
    """Refuse impossible --checkpoint/--resume requests; True when the fit is resumable."""
    from ..checkpoint import supports_checkpoints

    wanted = bool(args.checkpoint or args.resume)
    if wanted and args.model in NOT_ITERATIVE:
        raise UsageError(f"--checkpoint/--resume do not apply to 'fit {args.model}': "
                         f"{NOT_ITERATIVE[args.model]}")
    resumable = supports_checkpoints(model)
    if wanted and not resumable:
        raise UsageError(f"checkpoints are not supported for {args.model} yet")
    if args.resume and not args.checkpoint:
        raise UsageError("--resume needs --checkpoint PATH")
    if args.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    return resumable


def _dask_client(args):
    """A distributed client for --scheduler ADDRESS or --dask-workers N (else None)."""
    if not (getattr(args, "scheduler", None) or getattr(args, "dask_workers", None)):
        return None
    if args.model not in DASK_MODELS:
        raise UsageError("--scheduler/--dask-workers run 'fit "
                         + "', 'fit ".join(DASK_MODELS) + "' so far")
    try:
        import distributed
    except ImportError as exc:
        raise UsageError('distributed fits need dask: pip install "fastfactor[dask]"') from exc
    if args.scheduler:
        try:
            return distributed.Client(args.scheduler, timeout=args.dask_timeout)
        except (OSError, TimeoutError) as exc:
            raise OSError(f"no dask scheduler answered at {args.scheduler} within "
                          f"{args.dask_timeout} s ({exc})") from exc
    threads = getattr(args, "n_threads", None) or 1
    cluster = distributed.LocalCluster(n_workers=args.dask_workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=40,
                                       env={"OMP_NUM_THREADS": str(threads)})
    return distributed.Client(cluster)


def _as_dask(X, client):
    """Row chunks, a few per worker, each holding whole rows."""
    import dask.array as da

    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    rows = max(1, -(-X.shape[0] // (4 * n_workers)))
    if hasattr(X, "tocsr"):
        raise UsageError("distributed fits take dense input (.npy, .npz, .csv, .h5) so far")
    return da.from_array(X, chunks=(rows, X.shape[1]))


def model_state_params(model):
    """The estimator's parameters as JSON values (what a checkpoint must match)."""
    from .._utils.encoding import jsonable

    params = {}
    for name, value in model.get_params(deep=False).items():
        if name == "verbose":
            continue
        ok, conv = jsonable(value)
        params[name] = conv if ok else repr(value)
    return None, params


def _cmd_transform(args):
    from .._utils.atomic import check_writable
    from ._matrix_io import write_matrix
    from ..persistence import load

    check_writable(args.output, force=args.force)
    model = load(args.model)
    X = _load_input(args.input, None)
    expected = getattr(model, "n_features_in_", None)
    if expected is not None and X.shape[1] != expected:
        raise ValueError(f"{args.input} has {X.shape[1]} features but the model in "
                         f"{args.model} was fitted on {expected}")
    if args.labels:
        if not hasattr(model, "predict"):
            raise UsageError(f"{type(model).__name__} does not predict labels")
        out = model.predict(X).reshape(-1, 1)
    elif hasattr(model, "transform"):
        out = model.transform(X)
    elif hasattr(model, "predict_proba"):  # a mixture: the responsibilities
        out = model.predict_proba(X)
    else:
        raise UsageError(f"{type(model).__name__} has no transform")
    write_matrix(args.output, out, force=args.force)
    if args.json:
        print(json.dumps({"model": str(args.model), "input": str(args.input),
                          "output": str(args.output), "shape": list(out.shape)}))
    elif not args.quiet:
        print(f"transformed {X.shape[0]}x{X.shape[1]} -> {out.shape[0]}x{out.shape[1]} "
              f"-> {args.output}")
    return EXIT_OK


def _add_fit_parser(sub):
    p = sub.add_parser("fit", help="fit a model to a data file and save it")
    kinds = p.add_subparsers(dest="model", metavar="MODEL")
    kinds.required = True
    import fastfactor

    for kind, class_name in MODELS.items():
        cls = getattr(fastfactor, class_name, None)
        help_text = f"fit {class_name}" if cls else f"{class_name} (not available)"
        kp = kinds.add_parser(kind, help=help_text)
        kp.add_argument("input", help="data: .npy .npz[:name] .mtx .csv .tsv .h5:/dataset")
        kp.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
        kp.add_argument("--dtype", choices=["float32", "float64"], help="compute in this dtype")
        kp.add_argument("--checkpoint", metavar="PATH", help="save the fit state here")
        kp.add_argument("--checkpoint-every", type=int, default=10, metavar="N",
                        help="iterations between checkpoints (default 10; for dict, "
                             "mini-batch steps)")
        kp.add_argument("--resume", action="store_true",
                        help="continue from --checkpoint if it exists")
        kp.add_argument("--scheduler", metavar="ADDRESS",
                        help="fit on a dask.distributed cluster (nmf, gmm, svd)")
        kp.add_argument("--dask-workers", type=options.integer(1), metavar="N",
                        help="fit on a local dask cluster of N worker processes (nmf, gmm, svd)")
        kp.add_argument("--dask-timeout", type=options.real(0.0, inclusive=False), default=10.0,
                        metavar="SECONDS",
                        help="how long to wait for the scheduler (default 10)")
        _add_output_flags(kp)
        if cls is not None:
            _add_model_options(kp, cls)
        kp.set_defaults(func=_cmd_fit)


def _add_output_flags(p):
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or messages")


def build_parser():
    """The argument parser of the ``fastfactor`` command."""
    parser = argparse.ArgumentParser(
        prog="fastfactor",
        description="Fast matrix factorization: NMF, Gaussian mixtures, sparse coding, SVD.")
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"fastfactor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("info", help="version, OpenMP, threads, BLAS")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("selftest", help="compare every kernel with its numpy twin")
    p.add_argument("--no-timing", action="store_true", help="skip the speed comparison")
    p.set_defaults(func=_cmd_selftest)
    p = sub.add_parser("demo", help="run each model family on built-in data vs numpy")
    p.add_argument("--quick", action="store_true", help="smaller problems")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("bench", help="the DESIGN benchmark problems vs numpy and scikit-learn")
    p.add_argument("--quick", action="store_true", help="smaller problems")
    p.add_argument("--only", help="comma-separated families")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_bench)
    _add_fit_parser(sub)
    p = sub.add_parser("transform", help="apply a saved model to a data file")
    p.add_argument("model", help="model file written by 'fastfactor fit'")
    p.add_argument("input", help="data file")
    p.add_argument("-o", "--output", required=True, help=".npy .npz .csv .tsv or .mtx")
    p.add_argument("--labels", action="store_true",
                   help="mixtures: write the predicted component of each row instead of "
                        "the responsibilities")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_transform)
    from ._image import add_parser as add_image_parser

    add_image_parser(sub, _add_output_flags)
    return parser


def main(argv=None):
    """Entry point; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    import warnings

    from ..checkpoint import Interrupted

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        if not getattr(args, "quiet", False):
            print(f"fastfactor: warning: {message}", file=sys.stderr)

    warnings.showwarning = one_line_warning
    try:
        return args.func(args)
    except Interrupted as exc:
        print(f"fastfactor: interrupted: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("fastfactor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        print(f"fastfactor: usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, OSError) as exc:
        print(f"fastfactor: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
