"""What a failure to read a stored original means to the person who asked for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import BotoCoreError, ClientError

from app.errors import NotFoundError, UnavailableError
from ingest.errors import IngestError


@contextlib.contextmanager
def reading_original(document_id: int) -> Iterator[None]:
    """Map storage failures while reading a document's original to domain errors.

    Missing from every store, or unreadable as a PDF: ``NotFoundError`` (nothing to show).
    An unreachable bucket, refused credentials or a damaged local copy: ``UnavailableError``
    (try again later).
    """
    try:
        yield
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"the original of document {document_id} is missing from the store"
        ) from exc
    except IngestError as exc:
        raise NotFoundError(
            f"the pages of document {document_id} cannot be drawn: {exc.reason}"
        ) from exc
    except (OSError, BotoCoreError, ClientError) as exc:
        raise UnavailableError(
            f"the original of document {document_id} cannot be read from storage now: {exc}"
        ) from exc
