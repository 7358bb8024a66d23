"""The response cache in the store's ``llm_cache`` table: an LRU with a TTL and a size bound.

A Streamlit rerun or a repeated forecast asks the same question again; the answer comes
from here instead of the server. The key is a SHA-256 over everything that shapes the
answer (server, model, messages, parameters), never over the API key.

Each hit marks its row used (``last_used_at``). Each write purges: expired rows go, and
past ``max_rows`` live rows the least recently used go, so the table never outgrows the
bound by more than the row just written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from core.store import Store


def cache_key(
    base_url: str, model: str, messages: list[dict[str, Any]], parameters: Mapping[str, Any]
) -> str:
    document = {"base_url": base_url, "model": model, "messages": messages, "parameters": dict(parameters)}
    encoded = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


class ResponseCache:
    """Stored replies with an expiry time and a row bound; ``clock`` gives epoch seconds
    (injectable for tests)."""

    def __init__(
        self, store: Store, ttl_seconds: float, *, max_rows: int, clock: Callable[[], float] = time.time
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"DEALCAST_LLM_CACHE_MAX_ROWS must be at least 1, not {max_rows}")
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.max_rows = max_rows
        self._clock = clock

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).replace(tzinfo=None)

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored reply for ``key`` if it has not expired; the row is marked used."""
        now = self._now()
        row = self.store.fetchone(
            "UPDATE llm_cache SET last_used_at = ? WHERE key = ? AND expires_at > ? RETURNING response",
            [now, key, now],
        )
        return json.loads(row[0]) if row else None

    def put(self, key: str, model: str, response: Mapping[str, Any]) -> None:
        """Store a reply, then purge expired rows and the least recently used past the bound."""
        now = self._now()
        expires = now + dt.timedelta(seconds=self.ttl_seconds)
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO llm_cache "
                "(key, model, response, created_at, expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)",
                [key, model, json.dumps(response), now, expires, now],
            )
            cur.execute(
                """DELETE FROM llm_cache WHERE expires_at <= ? OR key IN (
                       SELECT key FROM llm_cache WHERE expires_at > ?
                       ORDER BY last_used_at DESC, created_at DESC, key OFFSET ?)""",
                [now, now, self.max_rows],
            )


def cache_size(store: Store, *, clock: Callable[[], float] = time.time) -> dict[str, int]:
    """Rows in ``llm_cache``: all of them, and those not yet expired."""
    now = dt.datetime.fromtimestamp(clock(), dt.UTC).replace(tzinfo=None)
    total, live = store.fetchone(
        "SELECT count(*), count(*) FILTER (WHERE expires_at > ?) FROM llm_cache", [now]
    )
    return {"rows": int(total), "live_rows": int(live)}
