"""Turns released files into stored originals, pages, markings and search records.

Bump ``PIPELINE_VERSION`` when what the pipeline writes for a page changes: derived files are
keyed by (sha256, pipeline version), so a new version re-derives them without touching originals.
"""

PIPELINE_VERSION = 1
