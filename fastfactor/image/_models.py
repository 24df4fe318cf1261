"""The other families' models, fitted the way the image workflows use them."""
import warnings

from ..nmf import NMF
from ..sparse_coding import MiniBatchDictionaryLearning, SparseAutoencoder, sparse_encode


def fit_nmf(X, n_components, *, max_iter, random_state, tol=1e-4):
    """``(W, H)`` of an NMF of ``X >= 0`` started from NNDSVDa.

    Running out of iterations is expected with the short budgets used on
    images, so its warning is silenced.
    """
    model = NMF(n_components, init="nndsvda", max_iter=max_iter, tol=tol,
                random_state=random_state)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Maximum number of iterations")
        W = model.fit_transform(X)
    return W, model.components_


def omp_codes(X, n_atoms, *, n_nonzero_coefs, max_iter, random_state):
    """``(codes, atoms)``: a dictionary learned on the rows of X, and their OMP codes.

    A rough dictionary is enough to compress or denoise, so the inner lasso
    tolerance warnings of the learner are silenced.
    """
    learner = MiniBatchDictionaryLearning(n_components=n_atoms, alpha=0.1, batch_size=256,
                                          max_iter=max_iter, fit_algorithm="cd",
                                          random_state=random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms = learner.fit(X).components_
    return sparse_encode(X, atoms, algorithm="omp", n_nonzero_coefs=n_nonzero_coefs), atoms


def autoencoder_codes(X, n_atoms, *, max_iter, random_state):
    """``(codes, atoms, decoder_bias)`` of a sparse autoencoder fitted on the rows of X."""
    coder = SparseAutoencoder(n_components=n_atoms, alpha=1e-3, max_iter=max_iter,
                              random_state=random_state).fit(X)
    return coder.transform(X), coder.components_, coder.decoder_bias_
