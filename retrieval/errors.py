"""Errors of the retrieval area meant for the user; the message says what to do next."""

from __future__ import annotations


class RetrievalError(Exception):
    """A problem the user can fix (bad collection name, store in use, bad filter, missing model)."""


class StoreLockedError(RetrievalError):
    """The embedded store is in use by another process."""


class CollectionNotFoundError(RetrievalError):
    """The named collection does not exist."""
