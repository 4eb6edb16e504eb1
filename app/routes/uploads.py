"""Uploading productions: the browser pages and the token-authenticated API.

Browser: ``/uploads`` (your productions), ``/uploads/productions/new``, and a production's
page ``/uploads/productions/{id}`` that shows each document's processing (its ``.json`` twin
is what the page polls). API: ``/api/productions`` (create, list), ``/api/productions/{id}``
(state of each document) and ``/api/productions/{id}/files`` (a streamed multipart upload).

Files are streamed into the store by ``app.upload_stream`` before a row is written, then
registered and queued by ``app.services.uploads``; jobs are dispatched after the commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.csrf import CSRF_FIELD, CSRF_HEADER, check_csrf_value
from app.auth.deps import Actor, CurrentActor, CurrentUser
from app.auth.models import ProductionOwner, User
from app.auth.web import form_errors, render_private, see_other
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import NotFoundError, PermissionDeniedError
from app.models import Document, Production, production_documents
from app.services.uploads import (
    ConflictError,
    ProductionDetail,
    ProductionIn,
    ProductionSummary,
    UploadResult,
    check_may_upload,
    create_production,
    get_production_for,
    list_productions,
    production_detail,
    register_files,
    retry_document,
    upload_page_path,
)
from app.upload_stream import (
    SHA256_FIELD,
    SHA256_HEADER,
    ReceivedUpload,
    format_bytes,
    parse_sha256,
    receive_upload,
)
from ingest.blobstore import ensure_local_original, get_blobstore
from ingest.classify import DocumentType

router = APIRouter()

# Bounded like the database's integer ids: a larger number would crash the query, not 404.
ProductionId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The production's id.")]
DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The document's id.")]

OCR_CHOICES = (("eng", "English"), ("spa", "Spanish"), ("eng+spa", "English and Spanish"))

# The multipart body is read as a stream (not parsed by FastAPI), so OpenAPI is told its shape.
_FILES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        SHA256_FIELD: {
                            "type": "string",
                            "description": "Optional sha256 (hex) of the file part that "
                            "follows it; a mismatch refuses the request.",
                        },
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more files: PDF, TIFF, PNG, JPEG or ZIP.",
                        },
                    },
                    "required": ["file"],
                }
            }
        },
    },
    "parameters": [
        {
            "name": SHA256_HEADER,
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "sha256 (hex) of the one file sent; a mismatch refuses the request.",
        }
    ],
}


def dispatch_jobs(request: Request, job_ids: Sequence[int]) -> None:
    """Hand committed jobs to the app's dispatcher (the in-process pool or Celery)."""
    dispatcher = getattr(request.app.state, "dispatcher", None)
    # Without a dispatcher (an app built without its lifespan) the jobs wait in the database
    # for a worker or the sweeper; they are never lost.
    if dispatcher is not None and job_ids:
        dispatcher.submit(list(job_ids))


def _production_for_upload(session: Session, user: User, production_id: int) -> Production:
    production = get_production_for(session, user, production_id)
    check_may_upload(session, user, production)
    return production


async def _receive_files(
    request: Request, actor: Actor, session: Session, settings: Settings, production_id: int
) -> tuple[UploadResult, list[int]]:
    """Check who may upload, stream the files into the store, then register them."""
    # Refused before a byte of the body is read: a stranger cannot fill the disk.
    production = await run_in_threadpool(_production_for_upload, session, actor.user, production_id)
    csrf_check = None
    if actor.via == "session":
        header = request.headers.get(CSRF_HEADER)
        if header is not None:
            check_csrf_value(request, header)
        else:

            def csrf_check(fields: Mapping[str, list[str]]) -> None:
                # The form's hidden token comes before its file input, so before any file.
                values = fields.get(CSRF_FIELD) or []
                check_csrf_value(request, values[0] if values else None)

    received: ReceivedUpload = await receive_upload(
        request.stream(),
        request.headers.get("content-type", ""),
        settings.files_dir,
        max_file_bytes=settings.max_upload_bytes,
        header_sha256=parse_sha256(request.headers.get(SHA256_HEADER), SHA256_HEADER),
        before_first_file=csrf_check,
        blobstore=get_blobstore(settings),
    )
    return await run_in_threadpool(
        register_files, session, settings, actor.user, production, received.files
    )


# --- Browser pages --------------------------------------------------------------------------


@router.get("/uploads", include_in_schema=False)
@router.get("/uploads.json", include_in_schema=False)
def list_uploads_page(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Your productions (every production, for moderators), newest first."""
    productions = list_productions(session, user)
    payload = {"productions": [p.model_dump(mode="json") for p in productions]}
    context = {"productions": productions}
    return render_private(request, "uploads/list.html", context, payload, user=user)


def _new_production_page(
    request: Request,
    user: User,
    values: Mapping[str, str],
    errors: list[str],
    status_code: int = 200,
) -> Response:
    context = {"values": values, "errors": errors, "ocr_choices": OCR_CHOICES}
    return render_private(
        request, "uploads/new.html", context, {}, user=user, status_code=status_code
    )


@router.get("/uploads/productions/new", include_in_schema=False)
def new_production_page(request: Request, user: CurrentUser) -> Response:
    """The form for a new production."""
    return _new_production_page(request, user, {"ocr_languages": "eng"}, [])


@router.post("/uploads/productions", include_in_schema=False)
def create_production_form(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    agency: Annotated[str, Form(max_length=300)] = "",
    title: Annotated[str, Form(max_length=300)] = "",
    request_number: Annotated[str, Form(max_length=120)] = "",
    release_date: Annotated[str, Form(max_length=20)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
    source_url: Annotated[str, Form(max_length=2000)] = "",
    ocr_languages: Annotated[str, Form(max_length=20)] = "eng",
) -> Response:
    """Create the production, then go to its page to add files (the form again on errors)."""
    values = {
        "agency": agency,
        "title": title,
        "request_number": request_number,
        "release_date": release_date,
        "description": description,
        "source_url": source_url,
        "ocr_languages": ocr_languages,
    }
    try:
        data = ProductionIn.model_validate(values)
    except ValidationError as exc:
        return _new_production_page(request, user, values, [form_errors(exc)], 400)
    try:
        production = create_production(session, user, data)
    except ConflictError as exc:
        return _new_production_page(request, user, values, [exc.message], exc.status_code)
    return see_other(upload_page_path(production.id))


@router.get("/uploads/productions/{production_id:int}", include_in_schema=False)
@router.get("/uploads/productions/{production_id:int}.json", include_in_schema=False)
def show_upload_production_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    production_id: ProductionId,
) -> Response:
    """A production's documents and how far each got; polled as ``.json`` every 2 s."""
    production = get_production_for(session, user, production_id)
    detail = production_detail(session, user, production)
    context = {
        "production": detail,
        "max_upload": format_bytes(settings.max_upload_bytes),
        "max_upload_bytes": settings.max_upload_bytes,
        "document_types": [t.value for t in DocumentType],
    }
    return render_private(
        request, "uploads/production.html", context, detail.model_dump(mode="json"), user=user
    )


@router.post("/uploads/productions/{production_id:int}/files", include_in_schema=False)
async def upload_files_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    production_id: ProductionId,
) -> Response:
    """The upload form without JavaScript: store, register, back to the production page."""
    _, job_ids = await _receive_files(request, actor, session, settings, production_id)
    dispatch_jobs(request, job_ids)
    return see_other(upload_page_path(production_id))


@router.post(
    "/uploads/productions/{production_id:int}/documents/{document_id:int}/retry",
    include_in_schema=False,
)
def retry_document_form(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    production_id: ProductionId,
    document_id: DocumentId,
) -> Response:
    """Queue a failed document again; its finished pages are kept."""
    production = get_production_for(session, user, production_id)
    dispatch_jobs(request, [retry_document(session, user, production, document_id)])
    return see_other(upload_page_path(production_id))


@router.get("/uploads/documents/{document_id:int}/original", include_in_schema=False)
def download_private_original(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, document_id: DocumentId
) -> Response:
    """The original file, for its uploader and moderators to check before publication."""
    document = session.get(Document, document_id)
    if document is None:
        raise NotFoundError(f"there is no document {document_id}")
    if not user.is_moderator:
        owned = session.scalar(
            select(ProductionOwner.production_id)
            .join(
                production_documents,
                production_documents.c.production_id == ProductionOwner.production_id,
            )
            .where(
                production_documents.c.document_id == document_id,
                ProductionOwner.user_id == user.id,
            )
            .limit(1)
        )
        if owned is None:
            raise PermissionDeniedError("only its uploader and the moderators can see this file")
    try:
        path = ensure_local_original(settings, document.sha256)
    except FileNotFoundError as exc:
        raise NotFoundError(f"the original of document {document_id} is not in storage") from exc
    response = FileResponse(
        path,
        media_type="application/octet-stream",
        filename=document.original_filename.rsplit("/", 1)[-1],
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- API ------------------------------------------------------------------------------------


@router.post(
    "/api/productions",
    status_code=201,
    response_model=ProductionDetail,
    tags=["uploads"],
    summary="Create a draft production",
)
def create_production_api(
    session: SessionDep, user: CurrentUser, data: ProductionIn
) -> ProductionDetail:
    """A new production, private until a moderator publishes it. 409 if the agency already
    has a production with this title."""
    production = create_production(session, user, data)
    return production_detail(session, user, production)


@router.get(
    "/api/productions",
    response_model=list[ProductionSummary],
    tags=["uploads"],
    summary="List your productions",
)
def list_productions_api(session: SessionDep, user: CurrentUser) -> list[ProductionSummary]:
    """Your productions, newest first (moderators: every production)."""
    return list_productions(session, user)


@router.get(
    "/api/productions/{production_id}",
    response_model=ProductionDetail,
    tags=["uploads"],
    summary="A production and the processing state of each document",
)
def show_production_api(
    session: SessionDep, user: CurrentUser, production_id: ProductionId
) -> ProductionDetail:
    """Each document's state, pages read, OCR pages and errors (with their reasons)."""
    return production_detail(session, user, get_production_for(session, user, production_id))


@router.post(
    "/api/productions/{production_id}/files",
    status_code=201,
    response_model=UploadResult,
    tags=["uploads"],
    summary="Upload files (streamed multipart)",
    openapi_extra=_FILES_BODY,
    responses={
        400: {"description": "Not multipart, or a checksum mismatch (nothing registered)."},
        413: {"description": "A file is larger than READINGROOM_MAX_UPLOAD_BYTES."},
    },
)
async def upload_files_api(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: CurrentActor,
    production_id: ProductionId,
) -> JSONResponse:
    """Stream one or more files (or ZIPs, unpacked into one document per member) into a
    production and queue their processing. Follow it with ``GET /api/productions/{id}``."""
    result, job_ids = await _receive_files(request, actor, session, settings, production_id)
    dispatch_jobs(request, job_ids)
    return JSONResponse(result.model_dump(mode="json"), status_code=201)


@router.post(
    "/api/productions/{production_id}/documents/{document_id}/retry",
    status_code=202,
    tags=["uploads"],
    summary="Process a failed document again",
)
def retry_document_api(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    production_id: ProductionId,
    document_id: DocumentId,
) -> dict[str, int]:
    """Queue the document again (finished pages are kept); 400 when a retry cannot help."""
    production = get_production_for(session, user, production_id)
    job_id = retry_document(session, user, production, document_id)
    dispatch_jobs(request, [job_id])
    return {"job_id": job_id}
