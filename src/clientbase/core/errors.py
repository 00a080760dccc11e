"""The one domain exception type; views map it to form errors, the API to its error shape."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused an action. `code` is stable, `message` is translated."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class PermissionDeniedError(DomainError):
    code = "permission_denied"


class ConflictError(DomainError):
    """A write based on an old version of a record; `details` lists what changed since."""

    code = "version_conflict"


class DuplicateWarning(DomainError):
    """A new record looks like an existing one; `details` holds the likely duplicates."""

    code = "likely_duplicate"
