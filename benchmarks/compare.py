"""Every family side by side with scikit-learn and numpy: a Markdown table, JSON and a plot.

    python benchmarks/compare.py [--quick] [--only nmf,gmm] [--out benchmarks/results]

The comparisons themselves live in ``fastfactor.bench`` (so that the
installed ``fastfactor bench`` command runs the same code); this script
adds the files and the plot. All rows come from one run, so every ratio
is measured side by side on the same machine state.
"""
import argparse
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems")
    parser.add_argument("--only", help="comma-separated families (default: all)")
    parser.add_argument("--out", default=str(HERE / "results"), help="output folder")
    args = parser.parse_args(argv)
    only = args.only.split(",") if args.only else None
    rows = bench.run(quick=args.quick, only=only, log=lambda m: print(m, file=sys.stderr))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "RESULTS_quick" if args.quick else "RESULTS"
    text = (f"# Benchmark results\n\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f" on {bench.machine_summary()}.\nEvery ratio was measured side by side in this "
            "one run.\n\n" + bench.markdown(rows) + "\n")
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=1))
    plot(rows, out / f"{stem}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
