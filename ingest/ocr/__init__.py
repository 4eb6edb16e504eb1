"""OCR: deciding which pages need it, reading them with tesseract, many pages at once.

Modules, one concern each::

    layer      the OCR decision from a page's text layer (needs_ocr, text_quality)
    source     the page image OCR reads (a scan at its own resolution)
    rules      ruled lines: straightening, finding and painting out table and form rules
    tesseract  running tesseract, reading its TSV; OcrError and OcrTimeoutError
    quality    judging a reading: confidence and dictionary words
    page       one page: prepare, read, turn upright, read weak parts again
    pool       many pages: one worker process per core, machine-wide OCR slots

Exceptions raised here::

    OcrError              a page could not be OCR'd: unreadable page, tesseract failed
    └── OcrTimeoutError   tesseract ran past its time budget and was killed

Both are page-level failures: the caller marks that page ``ocr_failed`` with the message as
its reason (and ``retryable``) and carries on with the rest of the document.
"""

from .layer import image_coverage, needs_ocr, text_quality
from .page import OcrPass, OcrResult, ocr_image, ocr_pdf_page
from .pool import ocr_pages_parallel
from .source import OCR_DPI
from .tesseract import OcrError, OcrTimeoutError, OcrWord

__all__ = [
    "OCR_DPI",
    "OcrError",
    "OcrPass",
    "OcrResult",
    "OcrTimeoutError",
    "OcrWord",
    "image_coverage",
    "needs_ocr",
    "ocr_image",
    "ocr_pages_parallel",
    "ocr_pdf_page",
    "text_quality",
]
