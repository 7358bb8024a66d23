"""What the client returns: a reply with its usage, and a validated structured reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from core.llm.usage import Usage

SchemaT = TypeVar("SchemaT", bound=BaseModel)


class LLMResponse(BaseModel):
    """One completed chat reply.

    ``attempts`` counts HTTP requests sent for it (0 for a cache hit). A cache hit carries
    zero usage, since nothing was paid for it this time; ``latency_ms`` is the caller's wait.
    """

    model_config = ConfigDict(frozen=True)

    content: str
    model: str
    finish_reason: str | None = None
    usage: Usage = Usage()
    latency_ms: float = 0.0
    attempts: int = 1
    request_id: str | None = None
    cache_hit: bool = False


@dataclass(frozen=True)
class StructuredResult(Generic[SchemaT]):
    """A reply validated against a Pydantic schema.

    ``data`` is the schema instance; ``response`` is the last reply, with ``usage``,
    ``attempts`` and ``latency_ms`` summed over every request it took (a re-ask included).
    """

    data: SchemaT
    response: LLMResponse
