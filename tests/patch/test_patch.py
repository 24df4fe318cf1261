"""The scikit-learn patch: names swapped and restored, estimators that are scikit-learn's
in every observable way, fallbacks taken, logged and counted."""
import importlib
import logging
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

import fastfactor as ff  # noqa: E402
from fastfactor import patch  # noqa: E402
from fastfactor.patch import _registry  # noqa: E402


@pytest.fixture
def patched():
    patch.reset_patch_stats()
    with patch.patched_sklearn():
        yield
    patch.reset_patch_stats()


def _sklearn_objects():
    return {(module, name): getattr(importlib.import_module(module), name)
            for name, modules in _registry.LOCATIONS.items() for module in modules}


def test_every_name_is_replaced_everywhere_and_restored():
    before = _sklearn_objects()
    patch.patch_sklearn()
    try:
        during = _sklearn_objects()
        for (module, name), original in before.items():
            assert during[(module, name)] is not original, (module, name)
            assert during[(module, name)].__name__ == name
            assert patch.is_patched(name)
        from sklearn.decomposition import NMF

        assert NMF.__module__ == "fastfactor.patch._estimators"
    finally:
        patch.unpatch_sklearn()
    assert _sklearn_objects() == before
    assert not any(patch.is_patched(name) for name in patch.PATCHED_NAMES)


def test_patching_some_names_and_the_context_manager():
    before = _sklearn_objects()
    with patch.patched_sklearn(["NMF", "randomized_svd"]):
        now = _sklearn_objects()
        assert now[("sklearn.decomposition", "NMF")] is not before[("sklearn.decomposition", "NMF")]
        assert now[("sklearn.mixture", "GaussianMixture")] is before[("sklearn.mixture",
                                                                      "GaussianMixture")]
        patch.patch_sklearn("NMF")  # twice: nothing happens
    assert _sklearn_objects() == before
    with pytest.raises(ValueError, match="names must be among"):
        patch.patch_sklearn(["PCA"])


def test_patched_classes_are_scikit_learns(patched):
    import sklearn.decomposition as skd
    import sklearn.mixture as skm
    from sklearn.base import clone

    for name in ("NMF", "MiniBatchNMF", "DictionaryLearning", "MiniBatchDictionaryLearning",
                 "SparseCoder", "TruncatedSVD"):
        cls = getattr(skd, name)
        assert issubclass(cls, _registry.original(name))
    assert issubclass(skm.GaussianMixture, _registry.original("GaussianMixture"))
    model = skd.NMF(3, init="nndsvda", max_iter=300, random_state=0)
    assert model.get_params() == _registry.original("NMF")(3, init="nndsvda", max_iter=300,
                                                           random_state=0).get_params()
    assert clone(model).get_params() == model.get_params()
    assert model.__sklearn_tags__() == _registry.original("NMF")().__sklearn_tags__()


def test_results_are_fastfactors_and_attributes_scikit_learns(patched):
    from sklearn.decomposition import NMF

    X = np.random.default_rng(0).random((40, 12))
    model = NMF(4, init="nndsvda", max_iter=400, random_state=0)
    W = model.fit_transform(X)
    direct = ff.NMF(4, init="nndsvda", max_iter=400, random_state=0)
    np.testing.assert_array_equal(W, direct.fit_transform(X))
    np.testing.assert_array_equal(model.components_, direct.components_)
    reference = _registry.original("NMF")(4, init="nndsvda", max_iter=400, random_state=0).fit(X)
    for attr in ("components_", "n_components_", "reconstruction_err_", "n_iter_",
                 "n_features_in_"):
        ours, theirs = getattr(model, attr), getattr(reference, attr)
        assert type(ours) is type(theirs) or np.shape(ours) == np.shape(theirs), attr
        assert np.shape(ours) == np.shape(theirs), attr
    assert model.components_.dtype == reference.components_.dtype
    np.testing.assert_allclose(model.transform(X), direct.transform(X))
    assert patch.patch_stats()["NMF"] == {"fastfactor": 2, "sklearn": 0}


def test_pickle_pipeline_gridsearch_set_output(patched):
    pd = pytest.importorskip("pandas")
    from sklearn.decomposition import TruncatedSVD
    from sklearn.mixture import GaussianMixture
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.random((80, 10))
    pipe = make_pipeline(StandardScaler(), TruncatedSVD(3, random_state=0)).fit(X)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.transform(X), pipe.transform(X))
    out = TruncatedSVD(2, random_state=0).set_output(transform="pandas").fit_transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["truncatedsvd0",
                                                                   "truncatedsvd1"]
    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2, 3]}, cv=3)
    search.fit(X)
    assert search.best_params_["n_components"] in (1, 2, 3)
    assert type(search.best_estimator_).__module__ == "fastfactor.patch._estimators"
    assert patch.patch_stats()["GaussianMixture"]["sklearn"] == 0


def test_subclass_overriding_a_step_runs_scikit_learns_algorithm(patched, caplog):
    from sklearn.mixture import GaussianMixture

    calls = []

    class Watched(GaussianMixture):
        def _m_step(self, X, log_resp, **kwargs):
            calls.append(1)
            super()._m_step(X, log_resp, **kwargs)

    X = np.random.default_rng(0).normal(size=(100, 2))
    with caplog.at_level(logging.INFO, logger="fastfactor.patch"):
        model = Watched(2, random_state=0, max_iter=5).fit(X)
        model.predict(X)  # the subclass also predicts with scikit-learn's code
    assert len(calls) == model.n_iter_ > 0
    assert patch.patch_stats()["GaussianMixture"]["sklearn"] == 2
    assert caplog.text.count("overrides _m_step") == 2


def test_a_failure_in_fastfactor_falls_back_and_is_printed_when_verbose(patched, monkeypatch,
                                                                       capsys):
    from sklearn.decomposition import NMF

    def broken(self, *args, **kwargs):
        raise RuntimeError("simulated gap in fastfactor")

    monkeypatch.setattr(ff.NMF, "fit_transform", broken)
    monkeypatch.setenv("FASTFACTOR_VERBOSE", "1")
    X = np.random.default_rng(0).random((30, 8))
    model = NMF(3, init="nndsvda", random_state=0, max_iter=300)
    W = model.fit_transform(X)
    expected = _registry.original("NMF")(3, init="nndsvda", random_state=0,
                                         max_iter=300).fit_transform(X)
    np.testing.assert_array_equal(W, expected)
    printed = capsys.readouterr().out
    assert "NMF: fallback to scikit-learn (RuntimeError: simulated gap in fastfactor)" in printed
    assert patch.patch_stats()["NMF"] == {"fastfactor": 0, "sklearn": 1}
    monkeypatch.undo()
    monkeypatch.setenv("FASTFACTOR_VERBOSE", "1")
    model.transform(X)  # a model scikit-learn fitted is transformed by scikit-learn
    assert "fitted by scikit-learn" in capsys.readouterr().out


def test_bad_parameters_get_scikit_learns_own_error(patched):
    from sklearn.decomposition import NMF
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'n_components' parameter of NMF"):
        NMF(n_components=-2).fit(np.ones((5, 3)))


def test_replaced_private_helper_falls_back(patched, monkeypatch):
    import sklearn.mixture._gaussian_mixture as gm
    from sklearn.mixture import GaussianMixture

    seen = []
    real = gm._estimate_gaussian_parameters

    def spy(*args, **kwargs):
        seen.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gm, "_estimate_gaussian_parameters", spy)
    GaussianMixture(2, random_state=0, max_iter=3).fit(np.random.default_rng(0).random((50, 2)))
    assert seen
    assert patch.patch_stats()["GaussianMixture"] == {"fastfactor": 0, "sklearn": 1}


def test_functions_are_patched(patched):
    from sklearn.decomposition import non_negative_factorization, sparse_encode
    from sklearn.utils.extmath import randomized_svd

    rng = np.random.default_rng(0)
    X = rng.random((30, 10))
    W, H, n_iter = non_negative_factorization(X, n_components=3, init="nndsvda", max_iter=500)
    assert W.shape == (30, 3) and H.shape == (3, 10)
    D = rng.normal(size=(5, 10))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    codes = sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=2)
    assert codes.shape == (30, 5)
    U, S, Vt = randomized_svd(X, 3, random_state=0)
    np.testing.assert_allclose(S, np.linalg.svd(X, compute_uv=False)[:3], rtol=1e-6)
    stats = patch.patch_stats()
    for name in ("non_negative_factorization", "sparse_encode", "randomized_svd"):
        assert stats[name] == {"fastfactor": 1, "sklearn": 0}, name
    assert non_negative_factorization.__name__ == "non_negative_factorization"


def test_warm_start_and_partial_fit_continue_fastfactors_fit(patched):
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    model = GaussianMixture(2, warm_start=True, max_iter=2, random_state=0)
    model.fit(X)
    first = model.lower_bound_
    model.fit(X)
    assert model.lower_bound_ >= first - 1e-9
    learner = MiniBatchDictionaryLearning(4, batch_size=20, random_state=0)
    learner.partial_fit(X[:100])
    learner.partial_fit(X[100:])
    assert learner.components_.shape == (4, 3)
    stats = patch.patch_stats()
    assert stats["GaussianMixture"]["sklearn"] == 0
    assert stats["MiniBatchDictionaryLearning"]["sklearn"] == 0


def _run(args, **kwargs):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, **kwargs)


def test_python_dash_m_runs_a_script_patched(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import sys
        from sklearn.decomposition import NMF
        print(NMF.__module__, sys.argv[1:])
    """))
    done = _run(["-m", "fastfactor.patch", str(script), "a", "--b"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fastfactor.patch._estimators ['a', '--b']"
    module = tmp_path / "mymod.py"
    module.write_text("from sklearn.mixture import GaussianMixture as G\nprint(G.__module__)\n")
    done = _run(["-m", "fastfactor.patch", "-m", "mymod"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "fastfactor.patch._estimators"
    done = _run(["-m", "fastfactor.patch"], cwd=tmp_path)
    assert done.returncode == 2 and "usage" in done.stderr


def test_without_scikit_learn_the_patch_says_so():
    code = ("import sys; sys.modules['sklearn'] = None; import fastfactor\n"
            "try:\n    fastfactor.patch_sklearn()\n"
            "except ImportError as e:\n    print(e)\n")
    done = _run(["-c", code], cwd="/")
    assert "needs scikit-learn installed" in done.stdout, done.stderr


def test_installed_scikit_learn_is_in_the_supported_range():
    version = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
    low, high = patch.SUPPORTED_SKLEARN
    assert low <= version <= high


def test_metadata_routing_is_scikit_learns(patched):
    from sklearn import config_context
    from sklearn.decomposition import NMF

    with config_context(enable_metadata_routing=True):
        ours = NMF(2).get_metadata_routing()
        theirs = _registry.original("NMF")(2).get_metadata_routing()
        assert str(ours) == str(theirs)
