"""Loading files into the warehouse: readers, validation rules and atomic loads."""

from growthloop.ingest.load import LoadResult, file_sha256, ingest_file
from growthloop.ingest.readers import FORMATS

__all__ = ["FORMATS", "LoadResult", "file_sha256", "ingest_file"]
