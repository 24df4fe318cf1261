"""Run every family's side-by-side comparison and write a Markdown table and a plot.

    python benchmarks/compare.py [--quick] [--only nmf,gmm] [--out benchmarks/results]

Each ``compare_<family>.py`` next to this file exposes ``run(quick)``
returning rows (dicts with problem, what, fastfactor_s, sklearn_s or
reference_s, speedup, note). All rows come from this one run, so the
ratios are measured side by side on the same machine state.
"""
import argparse
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAMILIES = ["nmf", "gmm", "sparse", "svd"]


def machine_summary():
    """One line describing where the numbers come from."""
    import numpy as np
    import threadpoolctl

    from fastfactor import __version__
    from fastfactor._threads import effective_n_threads, openmp_enabled

    blas = [f"{i.get('internal_api')} {i.get('version') or ''}".strip()
            for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    return (f"fastfactor {__version__}, numpy {np.__version__}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs, OpenMP {'on' if openmp_enabled() else 'off'} "
            f"({effective_n_threads()} threads), BLAS: {', '.join(blas) or 'unknown'}")


def markdown(rows):
    """Rows as one Markdown table."""
    lines = ["| problem | what | fastfactor (s) | baseline (s) | speed-up | note |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        base = r.get("sklearn_s", r.get("reference_s"))
        kind = "scikit-learn" if "sklearn_s" in r else "reference"
        lines.append(f"| {r['problem']} | {r['what']} | {r['fastfactor_s']:.4f} | "
                     f"{base:.4f} ({kind}) | **{r['speedup']:.2f}x** | {r.get('note', '')} |")
    return "\n".join(lines)


def plot(rows, path):
    """Horizontal bar chart of the speed-ups (needs matplotlib; skipped without it)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot written", file=sys.stderr)
        return None
    labels = [f"{r['problem']}: {r['what']}"[:70] for r in rows]
    values = [r["speedup"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.2))
    colors = ["tab:green" if v >= 1 else "tab:red" for v in values]
    ax.barh(range(len(rows)), values, color=colors)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speed-up over baseline (log scale, >1 is faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems")
    parser.add_argument("--only", default=",".join(FAMILIES),
                        help="comma-separated families (default: all that exist)")
    parser.add_argument("--out", default=str(HERE / "results"), help="output folder")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    rows = []
    for family in args.only.split(","):
        if not (HERE / f"compare_{family}.py").exists():
            continue
        module = importlib.import_module(f"compare_{family}")
        start = time.perf_counter()
        family_rows = module.run(quick=args.quick)
        print(f"{family}: {len(family_rows)} comparisons in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
        rows += family_rows
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "RESULTS_quick" if args.quick else "RESULTS"
    text = (f"# Benchmark results\n\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f" on {machine_summary()}.\nEvery ratio in a row was measured side by side in "
            "the same run.\n\n" + markdown(rows) + "\n")
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=1))
    plot(rows, out / f"{stem}.png")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
