"""Every family side by side with scikit-learn and numpy: a Markdown table, JSON and a plot.

    python benchmarks/compare.py [--quick] [--only nmf,gmm] [--threads N] [--out DIR]

The comparisons themselves live in ``fastfactor.bench`` (so that the
installed ``fastfactor bench`` command runs the same code); this script
writes the files (to ``benchmarks/results`` unless ``--out``) and the plot.
All rows come from one run, so every ratio is measured side by side on the
same machine state.

The files are named after what ran: ``--only gmm`` writes ``gmm.md``,
``gmm.json`` and ``gmm.png``; every family writes ``RESULTS.*``; ``--quick``
adds ``_quick`` (those files are not kept in git).
"""
import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from fastfactor import bench

HERE = Path(__file__).resolve().parent


def plot(rows, path):
    """Horizontal bar chart of the speed-ups (needs matplotlib; skipped without it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot written", file=sys.stderr)
        return None
    labels = [f"{r['problem']}: {r['what']}"[:72] for r in rows]
    values = [r["speedup"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.2))
    ax.barh(range(len(rows)), values,
            color=["tab:green" if v >= 1 else "tab:red" for v in values])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over the baseline (log scale; > 1 means fastfactor is faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def thread_limit(n_threads):
    """A context capping every thread pool (BLAS and OpenMP) at ``n_threads`` (None: no cap)."""
    if n_threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(n_threads)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems")
    parser.add_argument("--only", help="comma-separated families (default: all)")
    parser.add_argument("--threads", type=int,
                        help="limit BLAS and OpenMP (both libraries) to this many threads")
    parser.add_argument("--out", default=str(HERE / "results"), help="output folder")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else None
    with thread_limit(args.threads):
        rows = bench.run(quick=args.quick, only=only, log=lambda m: print(m, file=sys.stderr))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = ("-".join(only) if only else "RESULTS") + ("_quick" if args.quick else "")
    limit = f", threads limited to {args.threads}" if args.threads else ""
    text = (f"# Benchmark results\n\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f" on {bench.machine_summary()}{limit}.\nEvery ratio was measured side by side "
            "in this one run.\n\n" + bench.markdown(rows) + "\n")
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=1))
    plot(rows, out / f"{stem}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
