"""Errors of the local model layer, split by who must act.

`ModelError` and its subclasses are meant for the person running ragloop: the message says what
went wrong and what to do next (a command, a flag, a package to install). The CLI prints them
without a traceback; the HTTP server maps them to OpenAI-shaped error bodies.
"""

from __future__ import annotations


class ModelError(Exception):
    """A problem the user can fix: a bad model name, a missing package, a corrupt file."""


class UnknownModelError(ModelError):
    """The name is neither a registered model, a path to a .gguf file, nor a hub id."""


class ModelNotInstalledError(ModelError):
    """The model is registered but the package carrying its weights is not installed."""


class ChecksumMismatchError(ModelError):
    """The GGUF file on disk does not have the expected sha256; it is never loaded."""


class ModelDownloadError(ModelError):
    """A hub model could not be downloaded (offline, unknown repo, missing file)."""
