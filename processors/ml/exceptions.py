"""Errors of the ML package, under the platform's root exception."""

from __future__ import annotations

from streams.exceptions import NautilusError


class MlError(NautilusError):
    """Training data, a model or the model registry cannot be used as asked."""


class RegistryError(MlError):
    """A model or version is not in the registry, or its files are unreadable."""


class TrainingDataError(MlError):
    """The input directories hold no usable features, or too few samples to train on."""
