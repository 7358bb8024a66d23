"""The root of Dealcast's own exceptions.

    DealcastError              anything Dealcast raises on purpose
    ├── InputError             the caller's input is wrong (bad file, bad argument); CLI exit 2
    │   └── (ingest.IngestError and its family)
    ├── NotFoundError          a snapshot, deal or prompt that does not exist; CLI exit 2
    └── (llm.LLMError and its family live in core.llm.errors)

The command line maps InputError and NotFoundError to exit status 2 and every other
DealcastError to 1, printing the message on stderr without a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class DealcastError(Exception):
    """Base class for errors Dealcast raises deliberately, with a message fit for a user."""


class InputError(DealcastError):
    """Raised when a file, argument or value supplied by the user cannot be used."""


class NotFoundError(DealcastError):
    """Raised when a named snapshot, deal or prompt does not exist."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def validation_problems(exc: ValidationError, whole: str) -> list[str]:
    """One ``field.path: message`` per problem of a Pydantic error; ``whole`` names a problem
    with the whole value (a file, an answer, a context)."""
    return [
        f"{'.'.join(str(part) for part in error['loc']) or whole}: {error['msg']}"
        for error in exc.errors(include_url=False)
    ]
