"""The error envelope as the OpenAPI document describes it, for every operation at once.

Every error the app answers goes through ``app.render.render_error``: the JSON envelope
``{"error": {"status", "code", "message"}}`` on ``.json`` twins and under ``/api/``, the error
page elsewhere (``.txt``, images, feeds, sitemaps). Invalid input is a 400 in that envelope,
never FastAPI's own 422 body, so the document says ``4XX`` (which also keeps FastAPI from
advertising a 422 that never comes) and names both renderings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status, repeated for clients that lose it.")
    code: str = Field(
        description="Stable machine-readable reason: not_found, gone, invalid_input, "
        "rate_limited, authentication_required, permission_denied…"
    )
    message: str = Field(description="What went wrong, written for a person.")


class ErrorEnvelope(BaseModel):
    """The body of every JSON error."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": ErrorEnvelope,
        "description": "The request cannot be answered: the envelope on JSON paths and the "
        "API, an error page elsewhere.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
}
