"""Quality of SVD and NMF image compression against storage, on the built-in samples.

Prints a markdown table (PSNR, SSIM, storage ratio per method and rank) and,
with ``--out DIR``, writes for each sample a PNG strip: the original, then
the SVD reconstructions at each rank (and the NMF ones with ``--nmf``).
Needs Pillow only for ``--out``. A quality table, not a speed comparison:
the timings are ``benchmarks/compare.py``'s job.

Usage: python benchmarks/image_quality.py [--size 128] [--ranks 5 10 20 40] [--nmf] [--out DIR]
(to keep the strips with the other results: ``--out benchmarks/results/images``)
"""
import argparse
import os
import sys

import numpy as np

from fastfactor import image as fi


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--ranks", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--samples", nargs="+", default=list(fi.SAMPLE_NAMES))
    parser.add_argument("--nmf", action="store_true", help="also compress with NMF (slower)")
    parser.add_argument("--out", help="folder for the PNG strips")
    args = parser.parse_args(argv)

    print("| image | method | rank | storage ratio | PSNR dB | SSIM |")
    print("|---|---|---|---|---|---|")
    for name in args.samples:
        img = fi.sample_image(name, args.size)
        strips = [img]
        methods = [("svd", lambda k: fi.compress_svd(img, k)),
                   ("svd-stacked", lambda k: fi.compress_svd(img, k, color="stacked"))]
        if args.nmf:
            methods.append(("nmf", lambda k: fi.compress_nmf(img, k)))
        for method, compress in methods:
            for k in args.ranks:
                c = compress(k)
                rec = c.reconstruct()
                if method == "svd":
                    strips.append(rec)
                print(f"| {name} | {method} | {k} | {c.storage_ratio:.3f} | "
                      f"{fi.psnr(img, rec):.2f} | {fi.ssim(img, rec):.4f} |")
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            fi.save_image(os.path.join(args.out, f"{name}_svd.png"),
                          fi.make_grid(np.array(strips), n_cols=len(strips), pad=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
