"""Gaussian mixtures fitted by EM with a fused, tiled E-step."""
from ._gaussian_mixture import GaussianMixture

__all__ = ["GaussianMixture"]
