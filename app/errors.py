"""Domain errors of the web side, mapped to HTTP in one place (``app.main``).

ReadingroomError
├── NotFoundError        404: no such document, page, agency…
├── GoneError            410: taken down; carries the public reason
├── InvalidInputError    400: a query or parameter a person can correct
├── UnavailableError     503: the search engine or database cannot answer now
├── AuthenticationRequiredError 401: log in (or send an API token) first
└── PermissionDeniedError       403: logged in, but not allowed to do this
"""

from __future__ import annotations


class ReadingroomError(Exception):
    """Base of every error a service raises for a person to read."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ReadingroomError):
    status_code = 404
    code = "not_found"


class GoneError(ReadingroomError):
    status_code = 410
    code = "gone"


class InvalidInputError(ReadingroomError):
    status_code = 400
    code = "invalid_input"


class UnavailableError(ReadingroomError):
    status_code = 503
    code = "unavailable"


class AuthenticationRequiredError(ReadingroomError):
    status_code = 401
    code = "authentication_required"


class PermissionDeniedError(ReadingroomError):
    status_code = 403
    code = "forbidden"
