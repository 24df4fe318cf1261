"""scikit-learn's estimator checks on every fastfactor estimator.

One place that runs ``parametrize_with_checks`` over all estimators, with
small iteration budgets so the whole file stays fast. A check that fails
today is listed, with the reason, in ``EXPECTED_FAILED_CHECKS`` and runs as
an expected failure (xfail).
"""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastfactor as ff  # noqa: E402

if not hasattr(sklearn.utils.estimator_checks, "estimator_checks_generator"):
    pytest.skip("needs scikit-learn >= 1.6 (expected_failed_checks)", allow_module_level=True)


def _sparse_coder_dictionaries():
    """Per-check dictionaries of SparseCoder: its dictionary fixes the width of X.

    scikit-learn's own test-suite gives its SparseCoder one per check; they
    are private to scikit-learn, so without them those checks are skipped.
    """
    try:
        from sklearn.decomposition import SparseCoder
        from sklearn.utils._test_common.instance_generator import PER_ESTIMATOR_CHECK_PARAMS

        return PER_ESTIMATOR_CHECK_PARAMS[SparseCoder]
    except (ImportError, KeyError):  # pragma: no cover - other scikit-learn versions
        return None


ESTIMATORS = [
    ff.NMF(n_components=2, max_iter=50),
    # scikit-learn checks its own MiniBatchNMF with fresh_restarts=True: without
    # it, W from fit (one update per pass) and from transform (a full solve)
    # differ beyond the checks' tolerance
    ff.MiniBatchNMF(n_components=2, max_iter=20, fresh_restarts=True),
    ff.DeepNMF([2, 1], pretrain_max_iter=50, max_iter=20, n_threads=1),
    ff.GaussianMixture(n_init=2, max_iter=5),
    ff.SparseCoder(dictionary=np.random.RandomState(0).normal(size=(5, 3))),
    ff.DictionaryLearning(max_iter=20, transform_algorithm="lasso_lars"),
    ff.MiniBatchDictionaryLearning(batch_size=10, max_iter=5),
    ff.SparseAutoencoder(max_iter=5, batch_size=16),
    ff.TruncatedSVD(),
]

# Parameters a check needs that differ from the estimator's above, as
# scikit-learn sets them for its own estimators: check_dict_unchanged
# transforms 3 features, which a dictionary of 1 atom keeps apart.
_ONE_COMPONENT = {"check_dict_unchanged": {"n_components": 1}}
PER_CHECK_PARAMS = {
    ff.DictionaryLearning: _ONE_COMPONENT,
    ff.MiniBatchDictionaryLearning: _ONE_COMPONENT,
    ff.SparseAutoencoder: _ONE_COMPONENT,
    ff.SparseCoder: _sparse_coder_dictionaries(),
}

# {estimator class: {check name: why it fails}}. Empty: with the parameters
# above, every check of scikit-learn 1.9 passes for every estimator (the
# array-API check skips itself unless SCIPY_ARRAY_API=1 is set).
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator), {})


def _check_name(check):
    return getattr(check, "func", check).__name__


def _instance_for(estimator, check):
    per_check = PER_CHECK_PARAMS.get(type(estimator), {})
    if per_check is None:
        pytest.skip(f"{type(estimator).__name__} needs scikit-learn's per-check parameters")
    params = per_check.get(_check_name(check))
    return estimator if params is None else clone(estimator).set_params(**params)


with warnings.catch_warnings():
    # fastfactor's estimators follow scikit-learn's API without subclassing
    # its BaseEstimator (fastfactor does not need scikit-learn installed)
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base")
    _every_check = parametrize_with_checks(ESTIMATORS,
                                           expected_failed_checks=_expected_failed_checks)


@_every_check
def test_sklearn_compatible_estimator(estimator, check):
    estimator = _instance_for(estimator, check)
    with warnings.catch_warnings():
        # convergence warnings of the small iteration budgets, and the like
        warnings.simplefilter("ignore")
        check(estimator)


def test_every_estimator_is_checked():
    public_estimators = {getattr(ff, name) for name in ff.__all__
                         if isinstance(getattr(ff, name), type)
                         and hasattr(getattr(ff, name), "fit")}
    assert public_estimators == {type(est) for est in ESTIMATORS}
