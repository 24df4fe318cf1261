"""``fastfactor image compress|denoise|generate|parts``: the image workflows as commands.

Every command writes PNGs (atomically) and prints the metrics; inputs are an
image file or a built-in sample (``--sample NAME``), so nothing needs a
download. Pillow is needed (``pip install "fastfactor[image]"``).
"""
import json

import numpy as np

from . import _options as options


def _source(args, image):
    if args.input and args.sample:
        raise ValueError("give an input image or --sample, not both")
    if args.input:
        return image.load_image(args.input, mode=args.mode), str(args.input)
    name = args.sample or "landscape"
    return image.sample_image(name, size=(args.size, args.size), color=args.mode != "gray"), \
        f"sample:{name}"


def _n_components(args):
    if args.rank is not None and args.energy is not None:
        raise ValueError("give --rank or --energy, not both")
    if args.energy is not None:
        return float(args.energy)
    return int(args.rank) if args.rank is not None else None


def _report(args, info):
    if args.json:
        print(json.dumps(info))
    elif not args.quiet:
        print("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in info.items()))


def cmd_compress(args):
    from .. import image
    from .._utils.atomic import check_writable

    check_writable(args.output, force=args.force)
    img, source = _source(args, image)
    n_components = _n_components(args)
    if n_components is None:
        n_components = {"svd": 0.9, "nmf": 16}.get(args.method, 64)
    if args.method == "svd":
        comp = image.compress_svd(img, n_components, energy=args.energy_kind, color=args.color)
    elif args.method == "nmf":
        if isinstance(n_components, float):
            raise ValueError("--energy works with --method svd; give NMF a --rank")
        comp = image.compress_nmf(img, n_components, color=args.color)
    elif args.method in ("dictionary", "autoencoder"):
        if isinstance(n_components, float):
            raise ValueError("--energy works with --method svd; give --rank (the atoms)")
        comp = image.compress_dictionary(img, n_components, model=args.method,
                                         n_nonzero_coefs=args.nonzero,
                                         patch_size=args.patch_size)
    else:
        raise ValueError(f"unknown --method {args.method!r}")
    rec = comp.reconstruct()
    image.save_image(args.output, rec)
    _report(args, {"input": source, "method": args.method, "ranks": list(comp.ranks),
                   "psnr_db": image.psnr(img, rec), "ssim": image.ssim(img, rec),
                   "storage_ratio": comp.storage_ratio, "output": str(args.output)})


def cmd_denoise(args):
    from .. import image
    from .._utils.atomic import check_writable

    check_writable(args.output, force=args.force)
    clean, source = _source(args, image)
    noisy = clean
    if args.add_noise:
        rng = np.random.default_rng(args.seed)
        noisy = np.clip(clean + args.add_noise * rng.standard_normal(clean.shape), 0, 1)
    n_components = _n_components(args)
    if args.method == "svd":
        out, _ = image.denoise_svd(noisy, n_components)
    else:
        model = "dictionary" if args.method == "dictionary" else "svd"
        default = 64 if model == "dictionary" else 0.9
        out = image.denoise_patches(noisy, patch_size=args.patch_size, model=model,
                                    n_components=default if n_components is None
                                    else n_components)
    image.save_image(args.output, out)
    info = {"input": source, "method": args.method, "output": str(args.output)}
    if args.add_noise:
        if args.noisy_output:
            image.save_image(args.noisy_output, noisy)
        info.update(psnr_noisy_db=image.psnr(clean, noisy), psnr_denoised_db=image.psnr(clean, out),
                    ssim_noisy=image.ssim(clean, noisy), ssim_denoised=image.ssim(clean, out))
    _report(args, info)


def cmd_generate(args):
    """Fit a Gaussian mixture to a collection of small images and sample new ones."""
    from .. import image
    from .._utils.atomic import check_writable
    from ..mixture import GaussianMixture

    check_writable(args.output, force=args.force)
    images = image.sample_collection(n_images=args.n_train, size=args.size, seed=args.seed)
    X, shape = image.images_to_matrix(images)
    model = GaussianMixture(args.components, covariance_type=args.covariance,
                            random_state=args.seed, reg_covar=1e-3).fit(X)
    samples, _ = model.sample(args.n)
    generated = np.clip(image.matrix_to_images(samples, shape), 0, 1)
    image.save_image(args.output, image.make_grid(generated))
    if args.train_output:
        image.save_image(args.train_output, image.make_grid(images[: args.n]))
    _report(args, {"trained_on": int(len(images)), "components": args.components,
                   "generated": int(args.n), "mean_log_likelihood": float(model.score(X)),
                   "output": str(args.output)})


def cmd_parts(args):
    """NMF parts of an image collection, shown as a grid."""
    from .. import image
    from .._utils.atomic import check_writable

    check_writable(args.output, force=args.force)
    images = image.sample_collection(n_images=args.n_train, size=args.size, seed=args.seed)
    parts, _ = image.nmf_parts(images, args.components)
    image.save_image(args.output, image.make_grid(parts, normalize=True))
    _report(args, {"images": int(len(images)), "parts": args.components,
                   "output": str(args.output)})


def add_parser(sub, add_output_flags):
    """The ``image`` command and its sub-commands."""
    p = sub.add_parser("image", help="compress, denoise, generate images (needs Pillow)")
    cmds = p.add_subparsers(dest="image_command", metavar="ACTION")
    cmds.required = True

    def source_options(q):
        q.add_argument("input", nargs="?", help="image file (PNG, JPEG, ...)")
        q.add_argument("--sample", help="a built-in image instead: landscape, shapes, rings, "
                                        "gradient, checker")
        q.add_argument("--size", type=options.integer(1), default=256,
                       help="size of a built-in image")
        q.add_argument("--mode", choices=["gray", "rgb"], help="convert the image")
        q.add_argument("-o", "--output", required=True, help="PNG to write")
        q.add_argument("--rank", type=options.integer(1), help="rank kept")
        q.add_argument("--energy", type=float, help="energy fraction kept, in (0, 1)")
        add_output_flags(q)

    q = cmds.add_parser("compress", help="low-rank compression; prints PSNR, SSIM, storage")
    source_options(q)
    q.add_argument("--method", choices=["svd", "nmf", "dictionary", "autoencoder"],
                   default="svd", help="dictionary/autoencoder: sparse codes of 8x8 patches "
                                       "(--rank = number of atoms)")
    q.add_argument("--nonzero", type=options.integer(1), default=4,
                   help="atoms per patch (dictionary)")
    q.add_argument("--patch-size", type=options.integer(1), default=8)
    q.add_argument("--energy-kind", choices=["squared", "linear"], default="squared",
                   help="energy as squared singular values, or their plain sum")
    q.add_argument("--color", choices=["channels", "stacked"], default="channels")
    q.set_defaults(func=cmd_compress)

    q = cmds.add_parser("denoise", help="truncated-SVD or patch-based denoising")
    source_options(q)
    q.add_argument("--method", choices=["svd", "patches", "dictionary"], default="svd",
                   help="patches: patch PCA; dictionary: atoms learned on the noisy patches, "
                        "sparse codes, overlaps averaged")
    q.add_argument("--patch-size", type=options.integer(1), default=8)
    q.add_argument("--add-noise", type=options.real(0.0), default=0.0, metavar="SIGMA",
                   help="add Gaussian noise first (to measure the gain)")
    q.add_argument("--noisy-output", help="also write the noisy image here")
    q.add_argument("--seed", type=options.seed, default=0)
    q.set_defaults(func=cmd_denoise)

    for name, func, helptext in [("generate", cmd_generate,
                                  "fit a Gaussian mixture to small images, sample new ones"),
                                 ("parts", cmd_parts, "NMF parts of an image collection")]:
        q = cmds.add_parser(name, help=helptext)
        q.add_argument("-o", "--output", required=True, help="PNG grid to write")
        q.add_argument("--components", type=options.integer(1),
                       default=8 if name == "generate" else 12)
        q.add_argument("--n", type=options.integer(1), default=16, help="images to generate")
        q.add_argument("--n-train", type=options.integer(1), default=256, help="training images")
        q.add_argument("--size", type=options.integer(1), default=16, help="image side")
        q.add_argument("--seed", type=options.seed, default=0)
        if name == "generate":
            q.add_argument("--covariance", default="full",
                           choices=["full", "tied", "diag", "spherical"])
            q.add_argument("--train-output", help="also write a grid of training images")
        add_output_flags(q)
        q.set_defaults(func=func)
