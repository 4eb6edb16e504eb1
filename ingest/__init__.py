"""Turns released files into stored originals, pages, markings and search records.

Bump ``PIPELINE_VERSION`` when what the pipeline writes for a page changes: derived files are
keyed by (sha256, pipeline version), so a new version re-derives them without touching originals.
"""

# 2: OCR reads scans at their own resolution, straightened, with ruled lines painted out,
# Sauvola thresholding and a second pass on weak regions (ingest/ocr/, docs/ocr.md).
PIPELINE_VERSION = 2
