"""Why a file cannot be ingested at all. A row that cannot load is a reject, not an error.

InputError (core.errors)          CLI exit 2
└── IngestError                   the file cannot be ingested; nothing was written
    ├── EmptyFileError            0 bytes, or nothing but blank lines
    ├── FileTooLargeError         over the upload limit, too wide, or an XLSX unpacking to too much
    ├── NotTabularError           not a CSV or XLSX (a PDF renamed .csv, an image...)
    ├── UnreadableFileError       looks like CSV/XLSX but cannot be parsed
    ├── NoHeaderError             no row that looks like column names
    └── MissingColumnsError       neither a deal id nor a title column
"""

from __future__ import annotations

from core.errors import InputError


class IngestError(InputError):
    """Raised when a file cannot be ingested; the message names the file and the reason."""


class EmptyFileError(IngestError):
    """Raised for a 0-byte file or one with no rows at all."""


class FileTooLargeError(IngestError):
    """Raised when a file is larger than the upload limit, has more columns than a deal export
    can, or is an XLSX that would unpack to more than the limit (a zip bomb)."""


class NotTabularError(IngestError):
    """Raised when the bytes are not CSV or XLSX (for example a PDF with a .csv name)."""


class UnreadableFileError(IngestError):
    """Raised when a CSV or XLSX file is damaged or cannot be parsed."""


class NoHeaderError(IngestError):
    """Raised when no row in the top of the file looks like column names."""


class MissingColumnsError(IngestError):
    """Raised when the required columns are missing; lists what is missing and what was found."""

    def __init__(self, message: str, *, missing: list[str], found: list[str]) -> None:
        super().__init__(message)
        self.missing = missing
        self.found = found
