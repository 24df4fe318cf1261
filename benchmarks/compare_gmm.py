"""Gaussian mixtures side by side with scikit-learn on the DESIGN ``gmm`` problem.

    python benchmarks/compare_gmm.py [--quick] [--out benchmarks/results]

Prints a Markdown table and writes it (and the rows as JSON) to
``--out/gmm.md`` and ``gmm.json``. The comparisons are
:func:`fastfactor.bench.gmm.run` (also behind ``fastfactor bench --only
gmm``): per EM iteration for each covariance type (all threads, and one
thread each in CPU time), the whole fit, peak memory against
scikit-learn's, 2 threads against 1, and ``predict_proba`` on 1M rows.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from fastfactor import bench
from fastfactor.bench import gmm

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small problem")
    parser.add_argument("--out", default=str(HERE / "results"), help="output folder")
    args = parser.parse_args(argv)
    rows = gmm.run(quick=args.quick)
    text = (f"# Gaussian mixtures: fastfactor vs scikit-learn\n\nMeasured "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
            f"{bench.machine_summary()}.\nEvery ratio in a row was measured side by side "
            "in the same run; `load` is the machine's 1-minute load average (2 cores) "
            "when the row was measured.\n\n" + bench.markdown(rows) + "\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "gmm_quick" if args.quick else "gmm"
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
