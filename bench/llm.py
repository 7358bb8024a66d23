"""Benchmark: what the LLM client costs on top of a bare HTTP request loop.

Both loops post the same chat-completions body to the same local server (tests/support/
openai_server.py, answering at once, in its own process so it does not share the GIL with
the code measured) in the same run, alternating rounds so machine noise
hits both; the table shows the best round of each and the median of the per-round ratios
(each ratio compares runs made seconds apart, which is what survives a busy machine).
The client runs its full path (guards, retries armed, parsing, metrics, log line); the
cache is bypassed (``use_cache=False``) so every call is a real request. "client + store"
also writes each call's ``llm_calls`` row to an in-memory DuckDB.

Goal: client / bare <= 1.2 per request.

    .venv/bin/python bench/llm.py [--requests 400] [--rounds 3]

Sections are functions in SECTIONS; the forecast-through-LLM section joins them once the
forecast's LLM path exists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from core.config import Settings  # noqa: E402
from core.llm import LLMClient  # noqa: E402
from core.store import Store  # noqa: E402
from tests.support.openai_server import OpenAIServer  # noqa: E402

GOAL_RATIO = 1.2
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say ok."}]


def _serve(address: Connection, stop: EventType) -> None:
    with OpenAIServer() as server:
        address.send(server.base_url)
        stop.wait()


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    """The local chat-completions server in a child process; yields its base URL."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    stop = context.Event()
    process = context.Process(target=_serve, args=(send, stop), daemon=True)
    process.start()
    try:
        yield receive.recv()
    finally:
        stop.set()
        process.join(10)


async def bare_loop(base_url: str, requests: int, concurrency: int) -> float:
    """Seconds for ``requests`` posts with a plain httpx.AsyncClient (JSON decoded, nothing else)."""
    body = {"model": "bench-model", "messages": MESSAGES}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:

        async def one() -> None:
            reply = await http.post(f"{base_url}/chat/completions", json=body)
            reply.raise_for_status()
            reply.json()["choices"][0]["message"]["content"]

        return await _timed(one, requests, concurrency)


async def client_loop(base_url: str, requests: int, concurrency: int, store: Store | None) -> float:
    """Seconds for ``requests`` calls through LLMClient.generate_completion (cache bypassed)."""
    settings = Settings.from_env({})
    async with LLMClient(
        settings, base_url=base_url, api_key="", store=store, max_concurrency=concurrency,
        models={"fast": "bench-model", "balanced": "bench-model", "advanced": "bench-model"},
    ) as client:

        async def one() -> None:
            await client.generate_completion(MESSAGES, tier="fast", use_cache=False)

        return await _timed(one, requests, concurrency)


async def _timed(one: Callable[[], Awaitable[None]], requests: int, concurrency: int) -> float:
    for _ in range(min(20, requests)):  # warm the pool and the code paths
        await one()
    gate = asyncio.Semaphore(concurrency)

    async def gated() -> None:
        async with gate:
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(gated() for _ in range(requests)))
    return time.perf_counter() - started


def client_overhead(requests: int, rounds: int) -> list[str]:
    """Per-request time: bare httpx loop vs LLMClient (without and with the call log)."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    lines = [
        f"{'concurrency':>11}  {'bare httpx':>12}  {'client':>12}  {'ratio':>6}  {'client+store':>12}  "
        f"{'ratio':>6}  goal (client ratio; times are the best round, ratios the median)",
    ]
    with server_process() as base_url, Store(":memory:") as store:
        for concurrency in (1, 5):
            runs: dict[str, list[float]] = {"bare": [], "client": [], "store": []}
            for _ in range(rounds):
                runs["bare"].append(asyncio.run(bare_loop(base_url, requests, concurrency)))
                runs["client"].append(asyncio.run(client_loop(base_url, requests, concurrency, None)))
                runs["store"].append(asyncio.run(client_loop(base_url, requests, concurrency, store)))
            per = {name: min(seconds) / requests * 1000 for name, seconds in runs.items()}
            ratio = statistics.median(c / b for c, b in zip(runs["client"], runs["bare"], strict=True))
            ratio_store = statistics.median(s / b for s, b in zip(runs["store"], runs["bare"], strict=True))
            lines.append(
                f"{concurrency:>11}  {per['bare']:>9.3f} ms  {per['client']:>9.3f} ms  {ratio:>6.2f}  "
                f"{per['store']:>9.3f} ms  {ratio_store:>6.2f}  "
                f"{'met' if ratio <= GOAL_RATIO else 'MISSED'} (<= {GOAL_RATIO})"
            )
    return lines


SECTIONS: dict[str, Callable[[int, int], list[str]]] = {
    "LLM client overhead per request (local server, cache bypassed)": client_overhead,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per round and variant")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best is kept")
    args = parser.parse_args()
    for title, section in SECTIONS.items():
        print(f"\n{title}: {args.requests} requests x {args.rounds} rounds")
        for line in section(args.requests, args.rounds):
            print(line)


if __name__ == "__main__":
    main()
