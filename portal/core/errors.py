"""Errors the services raise; each carries a message fit to show the user."""

from __future__ import annotations


class PortalError(Exception):
    """A refusal the user can act on; `str(error)` is the message to show."""


class NotFound(PortalError):
    """The object does not exist, or the actor may not know that it does."""


class PermissionDenied(PortalError):
    """The actor is known but may not do this."""


class Conflict(PortalError):
    """The action clashes with the current state (a stale edit, a live claim)."""


class StaleVersion(Conflict):
    """The object changed since the version the caller read (an HTTP 412)."""


class ValidationError(PortalError):
    """Input refused; `errors` maps each field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        # Each message already names its field in words ("Client email is not valid…").
        super().__init__(" ".join(errors.values()))


class RecordedRefusal(ValidationError):
    """A refusal whose own record must outlive it: the failed guess counted toward the
    lock-out and its audit entry. `unit_of_work` commits before passing it on; a service
    raises it only when nothing but that record was written."""
