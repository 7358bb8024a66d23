"""One long-lived event loop in a background thread, for synchronous callers.

Streamlit has no event loop of its own and reruns scripts in threads; the CLI is plain
synchronous code. Both call ``run_sync(coro)``: the coroutine runs on this process's one
LLM loop (a daemon thread started on first use), where the process-wide client from
``get_llm_client()`` and its connection pool live, and the caller's thread waits for it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from core.config import Settings, get_settings
from core.llm.client import LLMClient
from core.store import get_store

T = TypeVar("T")
THREAD_NAME = "dealcast-llm-loop"
#: Seconds the exit hook waits for the shared clients to close their connections.
SHUTDOWN_TIMEOUT = 5.0

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_clients: dict[Settings, LLMClient] = {}


def runner_loop() -> asyncio.AbstractEventLoop:
    """The background loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=THREAD_NAME, daemon=True)
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def run_sync(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the background loop and wait for its result (or exception).

    Raises TimeoutError after ``timeout`` seconds (the coroutine is cancelled), and
    RuntimeError when called from the loop's own thread, where waiting would deadlock.
    """
    loop = runner_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("run_sync() was called on the LLM loop itself; await the coroutine instead.")
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"The LLM call did not finish within {timeout} s and was cancelled.") from None


def get_llm_client() -> LLMClient:
    """The process-wide LLMClient for the current settings, with the default store.

    It lives on the background loop: synchronous code calls it through ``run_sync``, and a
    coroutine on any other event loop may simply await it (the call runs on its loop).
    """
    settings = get_settings()
    home = runner_loop()
    with _lock:
        client = _clients.get(settings)
        if client is None or client.closed:
            client = LLMClient(settings, store=get_store(), home_loop=home)
            _clients[settings] = client
        return client


@atexit.register
def _close_clients() -> None:
    """Close the shared clients' connections before the interpreter goes."""
    if _loop is None or not _loop.is_running():
        return
    for client in list(_clients.values()):
        if not client.closed:
            with contextlib.suppress(TimeoutError, RuntimeError):
                run_sync(client.aclose(), timeout=SHUTDOWN_TIMEOUT)
