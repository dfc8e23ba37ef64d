"""One error type for everything that stops the local services, worded for people."""

from __future__ import annotations


class ServiceError(RuntimeError):
    """A one-sentence explanation of what went wrong and what to do about it."""
