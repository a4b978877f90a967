"""Bringing data in: readers, validation rules, atomic loads, pseudonymisation and erasure
(``privacy``), and the user files of aggregated paths (``paths``) and customer summaries
(``summaries``)."""

from growthloop.ingest.load import LoadResult, file_sha256, ingest_file, ingest_files
from growthloop.ingest.readers import FORMATS

__all__ = ["FORMATS", "LoadResult", "file_sha256", "ingest_file", "ingest_files"]
