"""fastfactor.image: files, samples, compression, metrics, denoising, patches."""
import os

import numpy as np
import pytest

from fastfactor import image as fi


@pytest.fixture
def Image():
    """Pillow, only for the tests that read or write files."""
    return pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def landscape():
    return fi.sample_image("landscape", (48, 64))


@pytest.fixture(scope="module")
def gray():
    return fi.sample_image("shapes", (40, 52), color=False)


# --------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif"])
def test_save_load_roundtrip_lossless(tmp_path, landscape, gray, ext, Image):
    for img in (landscape, gray):
        path = tmp_path / f"img{ext}"
        assert fi.save_image(path, img) == str(path)
        back = fi.load_image(path)
        assert back.shape == img.shape and back.dtype == np.float64
        np.testing.assert_array_equal(fi.to_uint8(back), fi.to_uint8(img))
    assert sorted(os.listdir(tmp_path)) == [f"img{ext}"]  # no temporary file left
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


def test_load_modes(tmp_path, landscape, Image):
    rgb = fi.to_uint8(landscape)
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "l.png")
    Image.fromarray(rgb).convert("LA").save(tmp_path / "la.png")
    Image.fromarray(rgb[:, :, 0] > 128).save(tmp_path / "bw.png")
    Image.fromarray((np.arange(48 * 64).reshape(48, 64) * 20).astype(np.uint16)).save(
        tmp_path / "i16.png")
    np.testing.assert_array_equal(fi.to_uint8(fi.load_image(tmp_path / "rgba.png")), rgb)
    assert fi.load_image(tmp_path / "p.png").shape == (48, 64, 3)
    assert fi.load_image(tmp_path / "l.png").shape == (48, 64)
    assert fi.load_image(tmp_path / "la.png").shape == (48, 64)
    bw = fi.load_image(tmp_path / "bw.png")
    assert set(np.unique(bw)) <= {0.0, 1.0}
    i16 = fi.load_image(tmp_path / "i16.png")
    assert i16.shape == (48, 64) and 0 <= i16.min() and i16.max() <= 1
    np.testing.assert_allclose(i16[0, 1], 20 / 65535)
    g = fi.load_image(tmp_path / "rgba.png", mode="gray", dtype=np.float32)
    assert g.shape == (48, 64) and g.dtype == np.float32
    assert fi.load_image(tmp_path / "l.png", mode="rgb").shape == (48, 64, 3)


def test_load_errors(tmp_path, Image):
    with pytest.raises(FileNotFoundError, match="path"):
        fi.load_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="directory"):
        fi.load_image(tmp_path)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="cannot read"):
        fi.load_image(tmp_path / "notes.png")
    Image.new("CMYK", (8, 8)).save(tmp_path / "cmyk.tif")
    with pytest.raises(ValueError, match="mode 'CMYK'"):
        fi.load_image(tmp_path / "cmyk.tif")
    good = tmp_path / "good.png"
    fi.save_image(good, np.zeros((8, 8)))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ValueError, match="cannot read"):
        fi.load_image(truncated)
    with pytest.raises(ValueError, match="mode"):
        fi.load_image(good, mode="cmyk")


def test_save_errors_leave_no_file(tmp_path, landscape, monkeypatch, Image):
    with pytest.raises(ValueError, match="extension"):
        fi.save_image(tmp_path / "out.xyz", landscape)
    with pytest.raises(FileNotFoundError, match="folder"):
        fi.save_image(tmp_path / "no" / "out.png", landscape)
    with pytest.raises(ValueError, match="shape"):
        fi.save_image(tmp_path / "out.png", np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        fi.save_image(tmp_path / "out.png", np.full((4, 4), np.nan))
    assert os.listdir(tmp_path) == []

    # a writer that dies half-way: the old file stays whole, no temporary file remains
    target = tmp_path / "keep.png"
    fi.save_image(target, landscape)
    before = target.read_bytes()
    real_save = Image.Image.save

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        fi.save_image(target, np.zeros((4, 4)))
    monkeypatch.setattr(Image.Image, "save", real_save)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.png"]


def test_float_conversions():
    u8 = np.array([[0, 128, 255]], dtype=np.uint8)
    np.testing.assert_allclose(fi.to_float(u8), [[0, 128 / 255, 1]])
    assert fi.to_float(u8, np.float32).dtype == np.float32
    np.testing.assert_allclose(fi.to_float(np.array([[0, 65535]], dtype=np.uint16)), [[0, 1]])
    np.testing.assert_array_equal(fi.to_float(np.array([[True, False]])), [[1.0, 0.0]])
    np.testing.assert_array_equal(fi.to_uint8(np.array([[-0.5, 0.5, 2.0]])), [[0, 128, 255]])
    with pytest.raises(TypeError, match="dtype"):
        fi.to_float(np.array([[1, 2]], dtype=np.int64))
    with pytest.raises(ValueError, match="dtype"):
        fi.to_float(u8, np.int32)


@pytest.mark.parametrize("bad, error, match", [
    (None, ValueError, "None"),
    (np.zeros(5), ValueError, "shape"),
    (np.zeros((4, 4, 2)), ValueError, "shape"),
    (np.zeros((0, 4)), ValueError, "empty"),
    (np.array([["a"]]), TypeError, "numeric"),
    (np.full((4, 4), np.inf), ValueError, "NaN or infinity"),
])
def test_bad_images(bad, error, match):
    with pytest.raises(error, match=match):
        fi.compress_svd(bad, 1)


# --------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", fi.SAMPLE_NAMES)
def test_samples(name):
    img = fi.sample_image(name, (30, 41))
    assert img.shape == (30, 41, 3) and img.min() >= 0 and img.max() <= 1
    np.testing.assert_array_equal(img, fi.sample_image(name, (30, 41)))
    assert fi.sample_image(name, 16, color=False).shape == (16, 16)


def test_sample_errors_and_collection():
    with pytest.raises(ValueError, match="name"):
        fi.sample_image("lena")
    with pytest.raises(ValueError, match="size"):
        fi.sample_image("shapes", 0)
    col = fi.sample_collection(10, 12, seed=1)
    assert col.shape == (10, 12, 12) and col.min() >= 0 and col.max() <= 1


# --------------------------------------------------------------------------
# compression
# --------------------------------------------------------------------------

@pytest.mark.parametrize("color", ["channels", "stacked"])
def test_compress_svd_rank(landscape, color):
    errors = []
    for k in (1, 4, 16):
        c = fi.compress_svd(landscape, k, color=color)
        assert c.method == "svd" and c.shape == landscape.shape
        H, W, C = landscape.shape
        if color == "channels":
            assert c.ranks == (k, k, k) and c.n_numbers == 3 * k * (H + W)
        else:
            assert c.ranks == (k,) and c.n_numbers == k * (H + 3 * W)
        assert c.storage_ratio == pytest.approx(c.n_numbers / landscape.size)
        errors.append(fi.psnr(landscape, c.reconstruct()))
    assert errors[0] < errors[1] < errors[2]


def test_compress_svd_matches_optimal_truncation(gray):
    U, s, Vt = np.linalg.svd(gray)
    best = (U[:, :6] * s[:6]) @ Vt[:6]
    c = fi.compress_svd(gray, 6)
    np.testing.assert_allclose(c.reconstruct(clip=False), best, atol=1e-6)
    assert c.blocks[0][0].shape == (40, 6) and c.blocks[0][1].shape == (6, 52)
    full = fi.compress_svd(gray, 40).reconstruct()
    np.testing.assert_allclose(full, gray, atol=1e-10)


def test_compress_svd_energy(landscape):
    for energy in ("squared", "linear"):
        c = fi.compress_svd(landscape, 0.95, energy=energy)
        for (left, right), channel in zip(c.blocks, np.moveaxis(landscape, 2, 0)):
            s = np.linalg.svd(channel, compute_uv=False)
            values = s ** 2 if energy == "squared" else s
            cum = np.cumsum(values) / values.sum()
            assert left.shape[1] == int(np.searchsorted(cum, 0.95)) + 1
    c = fi.compress_svd(landscape, 0.99)
    assert all(e >= 0.99 for e in c.info["energy"])


def test_colour_is_not_just_the_first_channel():
    img = np.zeros((32, 32, 3))
    img[8:24, 8:24, 2] = 1.0  # only blue
    for color in ("channels", "stacked"):
        rec = fi.compress_svd(img, 2, color=color).reconstruct()
        np.testing.assert_allclose(rec, img, atol=1e-8)
        rec = fi.compress_nmf(img, 2, color=color).reconstruct()
        assert rec[..., 2].mean() > 0.2 and rec[..., :2].max() < 1e-6


@pytest.mark.parametrize("n_components, error, match", [
    (0, ValueError, "n_components must be between 1 and 40"),
    (41, ValueError, "n_components must be between 1 and 40"),
    (1.0, ValueError, r"\(0, 1\)"),
    (-0.5, ValueError, r"\(0, 1\)"),
    ("5", TypeError, "n_components"),
    (True, TypeError, "n_components"),
])
def test_compress_rank_out_of_range(gray, n_components, error, match):
    with pytest.raises(error, match=match):
        fi.compress_svd(gray, n_components)


def test_compress_other_bad_parameters(gray, landscape):
    with pytest.raises(ValueError, match="color"):
        fi.compress_svd(landscape, 2, color="luma")
    with pytest.raises(ValueError, match="energy"):
        fi.compress_svd(gray, 0.5, energy="cubic")
    with pytest.raises(TypeError, match="int rank"):
        fi.compress_nmf(gray, 0.5)
    with pytest.raises(ValueError, match="negative"):
        fi.compress_nmf(gray - 1.0, 2)
    with pytest.raises(ValueError, match="n_components"):
        fi.compress_nmf(gray, 100)


def test_images_outside_unit_range_are_not_clipped(gray):
    big = gray * 255.0
    c = fi.compress_svd(big, 40)
    np.testing.assert_allclose(c.reconstruct(), big, atol=1e-8)
    den, _ = fi.denoise_svd(big, 40)
    np.testing.assert_allclose(den, big, atol=1e-8)
    # in [0, 1]: clipped
    assert fi.compress_svd(gray, 2).reconstruct().max() <= 1.0


def test_compress_nmf(gray):
    c4 = fi.compress_nmf(gray, 4, max_iter=200)
    c12 = fi.compress_nmf(gray, 12, max_iter=200)
    for c in (c4, c12):
        assert all((left >= 0).all() and (right >= 0).all() for left, right in c.blocks)
    assert fi.psnr(gray, c12.reconstruct()) > fi.psnr(gray, c4.reconstruct()) > 15


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------

def test_psnr():
    a = np.zeros((10, 10))
    b = a + 0.1
    assert fi.psnr(a, b) == pytest.approx(20.0)
    assert fi.psnr(a, b, data_range=255) == pytest.approx(10 * np.log10(255 ** 2 / 0.01))
    assert fi.psnr(a, a) == np.inf
    with pytest.raises(ValueError, match="same shape"):
        fi.psnr(a, np.zeros((10, 11)))
    with pytest.raises(ValueError, match="data_range"):
        fi.psnr(a, b, data_range=0)


def _ssim_brute_force(x, y, sigma=1.5, radius=5, L=1.0):
    """Wang et al. 2004, window by window, with an explicit normalized Gaussian."""
    t = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    w = np.outer(g, g)
    w /= w.sum()
    C1, C2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    vals = []
    for i in range(radius, x.shape[0] - radius):
        for j in range(radius, x.shape[1] - radius):
            a = x[i - radius:i + radius + 1, j - radius:j + radius + 1]
            b = y[i - radius:i + radius + 1, j - radius:j + radius + 1]
            mx, my = (w * a).sum(), (w * b).sum()
            vx = (w * (a - mx) ** 2).sum()
            vy = (w * (b - my) ** 2).sum()
            cxy = (w * (a - mx) * (b - my)).sum()
            vals.append((2 * mx * my + C1) * (2 * cxy + C2)
                        / ((mx ** 2 + my ** 2 + C1) * (vx + vy + C2)))
    return np.mean(vals)


def test_ssim_matches_the_definition(gray):
    rng = np.random.default_rng(0)
    x = gray[:20, :24]
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    assert fi.ssim(x, y) == pytest.approx(_ssim_brute_force(x, y), rel=1e-10)
    assert fi.ssim(x, x) == pytest.approx(1.0)
    assert fi.ssim(x, y) == pytest.approx(fi.ssim(y, x))
    y2 = np.clip(x + 0.3 * rng.standard_normal(x.shape), 0, 1)
    assert fi.ssim(x, y2) < fi.ssim(x, y) < 1


def test_ssim_colour_is_channel_mean(landscape):
    noisy = np.clip(landscape + 0.05 * np.random.default_rng(1).standard_normal(
        landscape.shape), 0, 1)
    per_channel = [fi.ssim(landscape[..., c], noisy[..., c]) for c in range(3)]
    assert fi.ssim(landscape, noisy) == pytest.approx(np.mean(per_channel))


def test_ssim_small_images_and_bad_parameters():
    small = np.zeros((8, 30))
    with pytest.raises(ValueError, match="smaller than the 11x11 SSIM window"):
        fi.ssim(small, small)
    assert fi.ssim(small, small, sigma=0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sigma"):
        fi.ssim(np.zeros((20, 20)), np.zeros((20, 20)), sigma=-1)
    with pytest.raises(ValueError, match="same shape"):
        fi.ssim(np.zeros((20, 20)), np.zeros((20, 20, 3)))


# --------------------------------------------------------------------------
# denoising and patches
# --------------------------------------------------------------------------

def noisy_version(img, sigma=0.1, seed=0):
    return np.clip(img + sigma * np.random.default_rng(seed).standard_normal(img.shape), 0, 1)


def test_denoise_svd_improves_psnr():
    img = fi.sample_image("landscape", (96, 128))
    noisy = noisy_version(img)
    den, ranks = fi.denoise_svd(noisy)
    assert den.shape == img.shape and len(ranks) == 3
    assert fi.psnr(img, den) > fi.psnr(img, noisy) + 3
    den2, _ = fi.denoise_svd(noisy, noise_sigma=0.1)
    assert fi.psnr(img, den2) > fi.psnr(img, noisy) + 3
    den3, ranks3 = fi.denoise_svd(noisy, 8)
    assert ranks3 == (8, 8, 8) and fi.psnr(img, den3) > fi.psnr(img, noisy)
    with pytest.raises(ValueError, match="n_components"):
        fi.denoise_svd(noisy, 500)
    with pytest.raises(ValueError, match="noise_sigma"):
        fi.denoise_svd(noisy, noise_sigma=-1.0)


def test_optimal_svd_rank_finds_true_rank():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((200, 5)) @ rng.standard_normal((5, 150)) * 3
    noisy = A + 0.1 * rng.standard_normal(A.shape)
    s = np.linalg.svd(noisy, compute_uv=False)
    assert fi.optimal_svd_rank(s, noisy.shape) == 5
    assert fi.optimal_svd_rank(s, noisy.shape, noise_sigma=0.1) == 5


@pytest.mark.parametrize("shape", [(20, 27), (20, 27, 3)])
@pytest.mark.parametrize("step", [1, 3, 6])
def test_patches_roundtrip(shape, step):
    img = np.random.default_rng(0).random(shape)
    P = fi.extract_patches(img, 6, step)
    channels = shape[2] if len(shape) == 3 else 1
    assert P.shape[1] == 36 * channels
    np.testing.assert_allclose(fi.reconstruct_from_patches(P, shape, 6, step), img)
    # the first patch is the top-left corner, laid out row by row
    np.testing.assert_array_equal(P[0], img[:6, :6].ravel())


def test_patches_errors():
    img = np.zeros((10, 12))
    with pytest.raises(ValueError, match="patch_size=16x16 is larger than the image"):
        fi.extract_patches(img, 16)
    with pytest.raises(ValueError, match="patch_size=4x13 is larger than the image"):
        fi.extract_patches(img, (4, 13))
    with pytest.raises(ValueError, match="patch_size"):
        fi.extract_patches(img, 0)
    with pytest.raises(ValueError, match="step"):
        fi.extract_patches(img, 4, step=0)
    with pytest.raises(ValueError, match="step=5 is larger than the patch size"):
        fi.extract_patches(img, 4, step=5)
    with pytest.raises(ValueError, match="patches must have shape"):
        fi.reconstruct_from_patches(np.zeros((3, 16)), (10, 12), 4, 1)
    with pytest.raises(ValueError, match="patch_size"):
        fi.denoise_patches(np.zeros((6, 6)), patch_size=8)


def test_denoise_patches_improves_psnr():
    img = fi.sample_image("shapes", (64, 64), color=False)
    noisy = noisy_version(img, 0.1)
    den = fi.denoise_patches(noisy, patch_size=6, step=2, n_components=8)
    assert den.shape == img.shape
    assert fi.psnr(img, den) > fi.psnr(img, noisy) + 3
    den = fi.denoise_patches(noisy_version(fi.sample_image("shapes", (40, 40)), 0.1),
                             patch_size=5, step=2, n_components=0.8)
    assert den.shape == (40, 40, 3)
    with pytest.raises(ValueError, match="model"):
        fi.denoise_patches(noisy, model="bm3d")
    with pytest.raises(ValueError, match="n_components"):
        fi.denoise_patches(noisy, n_components=0)


# --------------------------------------------------------------------------
# collections
# --------------------------------------------------------------------------

def test_collections_grid_and_nmf_parts():
    col = fi.sample_collection(30, 10)
    X, shape = fi.images_to_matrix(col)
    assert X.shape == (30, 100) and shape == (10, 10)
    np.testing.assert_array_equal(fi.matrix_to_images(X, shape), col)
    grid = fi.make_grid(col[:7], n_cols=3, pad=1)
    assert grid.shape == (3 * 11 - 1, 3 * 11 - 1)
    np.testing.assert_array_equal(grid[:10, :10], col[0])
    parts, weights = fi.nmf_parts(col, 5, max_iter=100)
    assert parts.shape == (5, 10, 10) and weights.shape == (30, 5)
    assert parts.min() >= 0 and weights.min() >= 0
    tiles = fi.make_grid(parts, normalize=True)
    assert tiles.min() >= 0 and tiles.max() <= 1
    with pytest.raises(ValueError, match="images"):
        fi.images_to_matrix(np.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="X must have shape"):
        fi.matrix_to_images(np.zeros((2, 5)), (2, 2))
    with pytest.raises(ValueError, match="negative"):
        fi.nmf_parts(col - 1, 2)


# ------------------------------------------- sparse-dictionary compression/denoising

@pytest.mark.parametrize("model", ["dictionary", "autoencoder"])
def test_compress_dictionary(model):
    from fastfactor import image

    img = image.sample_image("shapes", size=(48, 48))
    comp = image.compress_dictionary(img, 32, model=model, patch_size=8)
    rec = comp.reconstruct()
    assert rec.shape == img.shape
    assert 0 < comp.storage_ratio < 1.5
    # far better than keeping only the patch means
    means_only = image.reconstruct_from_patches(
        np.repeat(image.extract_patches(img, 8, 8).mean(axis=1, keepdims=True), 192, axis=1),
        img.shape, 8, 8)
    assert image.psnr(img, rec) > image.psnr(img, means_only) + 3


def test_dictionary_denoising_beats_the_noise():
    from fastfactor import image

    img = image.sample_image("rings", size=(64, 64), color=False)
    noisy = np.clip(img + 0.1 * np.random.default_rng(0).standard_normal(img.shape), 0, 1)
    clean = image.denoise_patches(noisy, model="dictionary", n_components=32)
    assert image.psnr(img, clean) > image.psnr(img, noisy) + 3


def test_compress_dictionary_bad_input():
    from fastfactor import image

    img = image.sample_image("shapes", size=(32, 32))
    with pytest.raises(ValueError, match="model"):
        image.compress_dictionary(img, 8, model="lasso")
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        image.compress_dictionary(img, 8, n_nonzero_coefs=9)
    with pytest.raises(ValueError, match="patch_size"):
        image.compress_dictionary(img[:4, :4], 8, patch_size=8)
