"""The ``fastfactor`` command, run for real in a subprocess, and model files."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import fastfactor as ff
from fastfactor.persistence import ModelFileError


# Run the command outside the source tree: ``python -m`` puts the working
# folder first on sys.path, where the uncompiled sources would shadow the
# installed package.
NEUTRAL_DIR = os.sep


def run_cli(*args, check=None, timeout=300):
    """Run ``python -m fastfactor ARGS``; returns the CompletedProcess."""
    proc = subprocess.run([sys.executable, "-m", "fastfactor", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=NEUTRAL_DIR)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((120, 30)) @ rng.random((30, 40)) / 30
    path = tmp_path / "X.npy"
    np.save(path, X)
    return X, path


def test_info_and_help():
    out = run_cli("info", check=0).stdout
    assert "fastfactor" in out and "openmp" in out and "threads" in out
    assert run_cli("--help", check=0).stdout.startswith("usage: fastfactor")
    assert "  --alpha-W VALUE" in run_cli("fit", "nmf", "--help", check=0).stdout


def test_selftest_command():
    out = run_cli("selftest", "--no-timing", check=0).stdout
    assert "all kernels agree" in out and "hals_update" in out


def test_fit_then_transform_roundtrip(data, tmp_path):
    X, path = data
    model_path, out_path = tmp_path / "model.npz", tmp_path / "W.npy"
    proc = run_cli("fit", "nmf", path, "-o", model_path, "-k", 4, "--max-iter", 50,
                   "--seed", 0, "--init", "random", "--json", check=0)
    summary = json.loads(proc.stdout)
    assert summary["shape"] == [120, 40] and summary["n_iter"] >= 1
    model = ff.load(model_path)
    expected = ff.NMF(4, max_iter=50, random_state=0, init="random").fit(X)
    np.testing.assert_allclose(model.components_, expected.components_, rtol=1e-10)
    assert model.init == "random" and model.n_features_in_ == 40
    run_cli("transform", model_path, path, "-o", out_path, "-q", check=0)
    np.testing.assert_allclose(np.load(out_path), expected.transform(X), rtol=1e-10)


@pytest.mark.parametrize("fmt", ["npz", "npz-named", "csv", "tsv", "mtx"])
def test_input_formats(data, tmp_path, fmt):
    X, _ = data
    if fmt == "npz":
        path = tmp_path / "X.npz"
        np.savez(path, X=X)
        spec = path
    elif fmt == "npz-named":
        path = tmp_path / "X.npz"
        np.savez(path, other=np.ones(3), X=X)
        spec = f"{path}:X"
    elif fmt in ("csv", "tsv"):
        path = tmp_path / f"X.{fmt}"
        sep = "," if fmt == "csv" else "\t"
        header = sep.join(f"f{i}" for i in range(X.shape[1]))
        np.savetxt(path, X, delimiter=sep, header=header, comments="")
        spec = path
    else:
        path = tmp_path / "X.mtx"
        scipy.io.mmwrite(path, sp.csr_matrix(np.where(X > 0.3, X, 0)))
        spec = path
    proc = run_cli("fit", "nmf", spec, "-o", tmp_path / "m.npz", "-k", 3, "--max-iter", 20,
                   "--json", check=0)
    assert json.loads(proc.stdout)["shape"] == [120, 40]


def test_float32_option(data, tmp_path):
    _, path = data
    run_cli("fit", "nmf", path, "-o", tmp_path / "m.npz", "-k", 3, "--max-iter", 10,
            "--dtype", "float32", "-q", check=0)
    assert ff.load(tmp_path / "m.npz").components_.dtype == np.float32


def test_usage_errors_exit_2(data, tmp_path):
    _, path = data
    assert run_cli("fit", "nmf", path).returncode == 2          # no -o
    assert run_cli("fit", "nmf", path, "-o", tmp_path / "m.npz", "--bogus", 1).returncode == 2
    assert run_cli("frobnicate").returncode == 2
    proc = run_cli("fit", "nmf", path, "-o", tmp_path / "m.npz", "--resume")
    assert proc.returncode == 2 and "--checkpoint" in proc.stderr


@pytest.mark.parametrize("command,option", [
    ("fit", ["-k", "-3"]), ("fit", ["-k", "0"]), ("fit", ["-k", "1.5"]), ("fit", ["-k", "many"]),
    ("fit", ["--max-iter", "0"]), ("fit", ["--max-iter", "2.5"]), ("fit", ["--tol", "-1"]),
    ("fit", ["--tol", "nan"]), ("fit", ["--seed", "-1"]), ("fit", ["--seed", str(2**32)]),
    ("fit", ["--threads", "0"]), ("fit", ["--dask-workers", "0"]),
    ("fit", ["--dask-timeout", "0"]), ("compress", ["--size", "0"]),
    ("compress", ["--rank", "-2"]), ("compress", ["--nonzero", "0"]), ("denoise", ["--seed", "-5"]),
    ("denoise", ["--add-noise", "-0.1"]),
])
def test_bad_option_values_are_usage_errors(data, tmp_path, capsys, command, option):
    # refused by the parser, before any data is read: exit 2, not 3 (bad input)
    from fastfactor.cli import _main as cli

    _, path = data
    out = tmp_path / "m.npz"
    argv = (["fit", "nmf", str(path)] if command == "fit"
            else ["image", command, "--sample", "shapes"])
    assert cli.main(argv + ["-o", str(out), *option]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"argument {option[0]}" in err and f"got '{option[1]}'" in err, err
    assert not out.exists()


def test_bad_option_value_exits_2_and_a_rank_too_big_for_the_data_exits_3(data, tmp_path):
    _, path = data
    out = tmp_path / "m.npz"
    proc = run_cli("fit", "nmf", path, "-o", out, "-k", -3)
    assert proc.returncode == 2 and "-k/--n-components" in proc.stderr, proc.stderr
    # a valid rank that this file cannot have is bad input
    proc = run_cli("fit", "svd", path, "-o", out, "-k", 41)
    assert proc.returncode == 3 and "n_components" in proc.stderr, proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("problem", ["missing", "unknown-format", "1d", "nan", "negative",
                                     "bad-param", "no-folder", "exists"])
def test_bad_input_exit_3_one_line(data, tmp_path, problem):
    _, path = data
    out = tmp_path / "m.npz"
    args = ["fit", "nmf", path, "-o", out, "-k", 2, "--max-iter", 5]
    if problem == "missing":
        args[2] = tmp_path / "nope.npy"
    elif problem == "unknown-format":
        args[2] = tmp_path / "X.xyz"
        args[2].write_text("1 2 3")
    elif problem == "1d":
        np.save(tmp_path / "v.npy", np.ones(5))
        args[2] = tmp_path / "v.npy"
    elif problem == "nan":
        np.save(tmp_path / "n.npy", np.array([[1.0, np.nan], [1.0, 2.0]]))
        args[2] = tmp_path / "n.npy"
    elif problem == "negative":
        np.save(tmp_path / "n.npy", np.array([[1.0, -1.0], [1.0, 2.0]]))
        args[2] = tmp_path / "n.npy"
    elif problem == "bad-param":
        args += ["--solver", "als"]
    elif problem == "no-folder":
        args[4] = tmp_path / "missing-folder" / "m.npz"
    elif problem == "exists":
        out.write_bytes(b"precious")
    proc = run_cli(*args)
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastfactor: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    if problem == "exists":
        assert out.read_bytes() == b"precious"
    else:
        assert not out.exists()


def test_transform_with_the_wrong_input(data, tmp_path):
    X, path = data
    model = tmp_path / "m.npz"
    run_cli("fit", "nmf", path, "-o", model, "-k", 2, "--max-iter", 5, "-q", check=0)
    np.save(tmp_path / "other.npy", np.ones((5, 7)))
    proc = run_cli("transform", model, tmp_path / "other.npy", "-o", tmp_path / "W.npy")
    assert proc.returncode == 3 and "7 features" in proc.stderr
    proc = run_cli("transform", path, path, "-o", tmp_path / "W.npy")  # data file as model
    assert proc.returncode == 3 and "not a fastfactor model file" in proc.stderr


def test_model_files_are_checked(data, tmp_path):
    X, _ = data
    model = ff.NMF(2, max_iter=5).fit(X)
    path = tmp_path / "m.npz"
    ff.save(model, path)
    loaded = ff.load(path)
    np.testing.assert_array_equal(loaded.components_, model.components_)
    assert loaded.get_params() == model.get_params()
    truncated = tmp_path / "t.npz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="not a fastfactor model file"):
        ff.load(truncated)
    foreign = tmp_path / "f.npz"
    np.savez(foreign, a=np.ones(3))
    with pytest.raises(ModelFileError, match="no metadata"):
        ff.load(foreign)
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError):
        ff.load(garbage)
    with pytest.raises(ValueError, match="not fitted"):
        ff.save(ff.NMF(2), tmp_path / "u.npz")


# Per model kind: the options of a fit long enough to be stopped mid-way, with nothing
# left to chance (a seed, no early stop); an array every checkpoint of it holds; and the
# largest relative difference allowed between a resumed and an uninterrupted fit.
KILLABLE_FITS = {
    "nmf": (["-k", 8, "--max-iter", 200, "--tol", 0, "--seed", 0, "--shuffle", "true"],
            "Ht", 1e-10),
    # 8 passes of 20 mini-batches; checkpoints count mini-batch steps
    "dict": (["-k", 8, "--max-iter", 8, "--batch-size", 50, "--tol", 0,
              "--max-no-improvement", "none", "--fit-algorithm", "cd", "--seed", 0],
             "Bt", 0.0),
}


def _fit_command(kind, path, out, *extra):
    return [sys.executable, "-m", "fastfactor", "fit", kind, str(path), "-o", str(out),
            *map(str, KILLABLE_FITS[kind][0]), *map(str, extra)]


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


@pytest.fixture
def big(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((1000, 20)) @ rng.random((20, 300)) + 0.05 * rng.random((1000, 300))
    path = tmp_path / "big.npy"
    np.save(path, X)
    return path


@pytest.mark.parametrize("kind", sorted(KILLABLE_FITS))
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_killed_fit_resumes_to_the_same_model(big, tmp_path, how, kind):
    _, saved_array, rtol = KILLABLE_FITS[kind]
    reference, out, ckpt = tmp_path / "ref.npz", tmp_path / "m.npz", tmp_path / "state.npz"
    subprocess.run(_fit_command(kind, big, reference, "-q"), check=True, cwd=NEUTRAL_DIR,
                   capture_output=True, timeout=300)
    proc = subprocess.Popen(
        _fit_command(kind, big, out, "--checkpoint", ckpt, "--checkpoint-every", 5, "-q"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=NEUTRAL_DIR)
    _wait_for(ckpt, proc)
    proc.send_signal(getattr(signal, how))
    _, stderr = proc.communicate(timeout=120)
    if how == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 4, stderr
        assert "interrupted" in stderr
    assert not out.exists()  # no half-written model
    with np.load(ckpt) as saved:
        assert saved_array in saved.files
    resumed = subprocess.run(_fit_command(kind, big, out, "--checkpoint", ckpt, "--resume"),
                             capture_output=True, text=True, cwd=NEUTRAL_DIR, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from iteration" in resumed.stderr
    a, b = ff.load(out), ff.load(reference)
    np.testing.assert_allclose(a.components_, b.components_, rtol=rtol, atol=rtol * 1e-2)
    assert a.n_iter_ == b.n_iter_ == b.max_iter  # ran to the end, no early stop
    assert getattr(a, "n_steps_", None) == getattr(b, "n_steps_", None)


@pytest.mark.parametrize("kind, options", [
    ("nmf", ["--max-iter", 10]),
    ("dict", ["--max-iter", 1, "--batch-size", 100, "--fit-algorithm", "cd"]),
])
def test_resume_refuses_a_checkpoint_of_another_fit(big, tmp_path, kind, options):
    ckpt = tmp_path / "c.npz"
    run_cli("fit", kind, big, "-o", tmp_path / "a.npz", "-k", 3, *options,
            "--checkpoint", ckpt, "--checkpoint-every", 2, "-q", check=0)
    proc = run_cli("fit", kind, big, "-o", tmp_path / "b.npz", "-k", 4, *options,
                   "--checkpoint", ckpt, "--resume", "-q")
    assert proc.returncode == 3 and "different fit (params differ" in proc.stderr
    other = tmp_path / "other.npy"
    np.save(other, np.load(big)[::2])
    proc = run_cli("fit", kind, other, "-o", tmp_path / "b.npz", "-k", 3, *options,
                   "--checkpoint", ckpt, "--resume", "-q")
    assert proc.returncode == 3 and "different fit (data differ" in proc.stderr
    assert not (tmp_path / "b.npz").exists()


def test_checkpoint_options_rejected_where_they_cannot_work(data, tmp_path):
    _, path = data
    out = tmp_path / "m.npz"
    proc = run_cli("fit", "svd", path, "-o", out, "-k", 3, "--checkpoint", tmp_path / "c.npz")
    assert proc.returncode == 2, proc.stderr
    assert "--checkpoint/--resume do not apply to 'fit svd'" in proc.stderr
    assert "not by iterations" in proc.stderr
    proc = run_cli("fit", "dict", path, "-o", out, "--checkpoint", tmp_path / "c.npz",
                   "--checkpoint-every", 0)
    assert proc.returncode == 2 and "--checkpoint-every must be >= 1, got 0" in proc.stderr
    assert not out.exists() and not (tmp_path / "c.npz").exists()


def test_command_line_dask_options_name_the_models_that_take_them(tmp_path, capsys):
    from fastfactor.cli import _main as cli

    np.save(tmp_path / "X.npy", np.random.default_rng(0).random((40, 6)))
    code = cli.main(["fit", "dict", str(tmp_path / "X.npy"), "-o", str(tmp_path / "m.npz"),
                     "--dask-workers", "2"])
    assert code == cli.EXIT_USAGE
    assert "'fit nmf', 'fit gmm', 'fit svd'" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_none_reaches_the_estimator(data, tmp_path):
    # "none" must not be mistaken for an option that was not given
    _, path = data
    run_cli("fit", "dict", path, "-o", tmp_path / "d.npz", "-k", 3, "--max-iter", 1,
            "--max-no-improvement", "none", "-q", check=0)
    assert ff.load(tmp_path / "d.npz").max_no_improvement is None


def test_progress_lines_when_not_a_terminal(data, tmp_path):
    _, path = data
    proc = run_cli("fit", "nmf", path, "-o", tmp_path / "m.npz", "-k", 3, "--max-iter", 30,
                   "--tol", 0, check=0)
    assert "iter 30/30" in proc.stderr
    quiet = run_cli("fit", "nmf", path, "-o", tmp_path / "q.npz", "-k", 3, "--max-iter", 30,
                    "-q", check=0)
    assert quiet.stderr == "" and quiet.stdout == ""


# ---------------------------------------------------------------------- images

@pytest.fixture
def need_pillow():
    pytest.importorskip("PIL")


@pytest.mark.parametrize("action,extra,keys", [
    ("compress", ["--sample", "shapes", "--size", "64", "--rank", "8"],
     {"psnr_db", "ssim", "storage_ratio"}),
    ("compress", ["--sample", "landscape", "--size", "64", "--energy", "0.999"],
     {"psnr_db", "ranks"}),
    ("compress", ["--sample", "rings", "--size", "48", "--method", "nmf", "--rank", "6"],
     {"psnr_db"}),
    ("denoise", ["--sample", "rings", "--size", "64", "--add-noise", "0.1"],
     {"psnr_noisy_db", "psnr_denoised_db"}),
    ("generate", ["--n", "4", "--components", "3", "--n-train", "64", "--covariance", "diag"],
     {"generated", "mean_log_likelihood"}),
    ("parts", ["--components", "4", "--n-train", "64"], {"parts"}),
])
def test_image_commands(need_pillow, tmp_path, action, extra, keys):
    out = tmp_path / "out.png"
    proc = run_cli("image", action, *extra, "-o", out, "--json", check=0)
    info = json.loads(proc.stdout)
    assert keys <= set(info) and out.exists()
    if action == "denoise":
        assert info["psnr_denoised_db"] > info["psnr_noisy_db"]
    from fastfactor import image

    assert image.load_image(out).ndim in (2, 3)


@pytest.mark.parametrize("extra,match", [
    (["missing.png"], "no such image file"),
    (["--sample", "shapes", "--size", "32", "--rank", "500"], "rank|n_components"),
    (["--sample", "shapes", "--size", "32", "--energy", "1.5"], "energy|n_components"),
    (["--sample", "nosuch"], "nosuch|name"),
])
def test_image_bad_input(need_pillow, tmp_path, extra, match):
    import re

    out = tmp_path / "out.png"
    proc = run_cli("image", "compress", *extra, "-o", out)
    assert proc.returncode == 3, proc.stderr
    assert re.search(match, proc.stderr), proc.stderr
    assert not out.exists()


def test_image_denoise_patch_larger_than_image(need_pillow, tmp_path):
    out = tmp_path / "out.png"
    proc = run_cli("image", "denoise", "--sample", "shapes", "--size", "8", "--method",
                   "patches", "--patch-size", "16", "-o", out)
    assert proc.returncode == 3 and "patch" in proc.stderr and not out.exists()


def test_hdf5_and_image_inputs(data, tmp_path):
    X, _ = data
    h5py = pytest.importorskip("h5py")
    pytest.importorskip("PIL")
    with h5py.File(tmp_path / "d.h5", "w") as fh:
        fh.create_dataset("/group/X", data=X)
    proc = run_cli("fit", "nmf", f"{tmp_path / 'd.h5'}:/group/X", "-o", tmp_path / "m.npz",
                   "-k", 3, "--max-iter", 10, "--json", check=0)
    assert json.loads(proc.stdout)["shape"] == [120, 40]
    proc = run_cli("fit", "nmf", tmp_path / "d.h5", "-o", tmp_path / "m2.npz")
    assert proc.returncode == 3 and "name the dataset" in proc.stderr
    from fastfactor import image

    image.save_image(tmp_path / "pic.png", image.sample_image("shapes", size=(32, 40)))
    proc = run_cli("fit", "svd", tmp_path / "pic.png", "-o", tmp_path / "s.npz", "-k", 4,
                   "--json", "--threads", 1, check=0)
    assert json.loads(proc.stdout)["shape"] == [32, 120]


@pytest.mark.parametrize("kind", ["gmm", "dict", "svd"])
def test_fit_every_model_kind(data, tmp_path, kind):
    _, path = data
    out = tmp_path / f"{kind}.npz"
    extra = {"gmm": ["--covariance-type", "diag", "--max-iter", 20],
             "dict": ["--max-iter", 2, "--batch-size", 32],
             "svd": []}[kind]
    run_cli("fit", kind, path, "-o", out, "-k", 3, "--seed", 0, "--threads", 1, *extra, "-q",
            check=0)
    model = ff.load(out)
    assert model.n_features_in_ == 40
    run_cli("transform", out, path, "-o", tmp_path / "t.npy", "-q", check=0)
    assert np.load(tmp_path / "t.npy").shape[0] == 120


def test_gmm_fit_resumes_from_a_checkpoint(tmp_path):
    from fastfactor import datasets

    X = datasets.make_gaussian_blobs(200, n_features=6, n_blobs=4)
    np.save(tmp_path / "X.npy", X)
    common = ["fit", "gmm", tmp_path / "X.npy", "-k", 4, "--max-iter", 30, "--tol", 0,
              "--seed", 0, "--init-params", "random_from_data", "--n-init", 2, "-q"]
    run_cli(*common, "-o", tmp_path / "ref.npz", check=0)
    ckpt = tmp_path / "c.npz"
    run_cli(*common, "-o", tmp_path / "first.npz", "--checkpoint", ckpt,
            "--checkpoint-every", 7, check=0)
    # pretend the run died after its last checkpoint: resume from it
    with np.load(ckpt) as saved:
        assert "means" in saved.files
    run_cli(*common, "-o", tmp_path / "resumed.npz", "--checkpoint", ckpt, "--resume",
            check=0)
    a, b = ff.load(tmp_path / "resumed.npz"), ff.load(tmp_path / "ref.npz")
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-12)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=1e-12)
