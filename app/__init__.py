"""readingroom: a searchable public archive of records released under FOIA."""

__version__ = "0.1.0"
