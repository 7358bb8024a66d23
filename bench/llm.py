"""Benchmark: what the LLM client costs on top of a bare HTTP request loop, and the forecast's LLM path.

Both loops post the same chat-completions body to the same local server (tests/support/
openai_server.py, answering at once, in its own process so it does not share the GIL with
the code measured) in the same run, alternating rounds so machine noise
hits both; the table shows the best round of each and the median of the per-round ratios
(each ratio compares runs made seconds apart, which is what survives a busy machine).
The client runs its full path (guards, retries armed, parsing, metrics, log line); the
cache is bypassed (``use_cache=False``) so every call is a real request. "client + store"
also writes each call's ``llm_calls`` row to an in-memory DuckDB.

Goal: client / bare <= 1.2 per request.

The forecast section sends 1,000 open deals (policy ``all``) through the forecast's LLM
path to the same kind of server, which answers every batch after 200 ms: 100 requests of
10 deals, 5 in flight, so the ideal wall time is ceil(1000 / 10 / 5) * 0.2 s = 4.0 s.
Goal: wall time / ideal <= 1.3 ("cpu" is this process's CPU time during the forecast,
what a busy machine has to find room for). Beside it, the same 100 rendered requests sent straight
through LLMClient (5 in flight) show what the client and server alone take on this machine.
Then the same forecast again: goal 0 HTTP requests (the response cache answers), counted
by the server.

    .venv/bin/python bench/llm.py [--requests 400] [--rounds 3] [--only forecast]

Sections are functions in SECTIONS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import pandas as pd  # noqa: E402

from core.cashflow import (  # noqa: E402
    SEED_PROFILE,
    CashflowPredictionService,
    EngineContext,
    PredictionOptions,
    predict_frame,
    register_refiner,
)
from core.cashflow.llm_answers import Batch  # noqa: E402
from core.cashflow.llm_refiner import PROMPT_ID, LLMRefiner  # noqa: E402
from core.config import Settings  # noqa: E402
from core.deals import conform  # noqa: E402
from core.llm import LLMClient, run_sync  # noqa: E402
from core.prompts import PromptRegistry  # noqa: E402
from core.prompts.outputs import DatePredictions  # noqa: E402
from core.store import Store  # noqa: E402
from tests.support.openai_server import OpenAIServer, Reply  # noqa: E402

GOAL_RATIO = 1.2
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say ok."}]
BENCH_MODELS = {"fast": "bench-model", "balanced": "bench-model", "advanced": "bench-model"}
FORECAST_DEALS = 1000
REPLY_DELAY = 0.2
FORECAST_GOAL_RATIO = 1.3
AS_OF = dt.date(2026, 3, 2)


def _serve(channel: Connection, responder: Callable[[dict[str, Any]], Reply] | None) -> None:
    """Serve until told to stop; answer "count" with the number of requests received."""
    with OpenAIServer(responder) as server:
        channel.send(server.base_url)
        while channel.recv() == "count":
            channel.send(len(server.requests))


@dataclass(frozen=True)
class ServerHandle:
    """The server process's base URL, and its request counter."""

    base_url: str
    channel: Connection

    def request_count(self) -> int:
        self.channel.send("count")
        return self.channel.recv()


@contextlib.contextmanager
def server_process(responder: Callable[[dict[str, Any]], Reply] | None = None) -> Iterator[ServerHandle]:
    """The local chat-completions server in a child process (``responder``: a module-level function)."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, responder), daemon=True)
    process.start()
    try:
        yield ServerHandle(parent.recv(), parent)
    finally:
        parent.send("stop")
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
        models=BENCH_MODELS,
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
        f"{requests} requests x {rounds} rounds",
        f"{'concurrency':>11}  {'bare httpx':>12}  {'client':>12}  {'ratio':>6}  {'client+store':>12}  "
        f"{'ratio':>6}  goal (client ratio; times are the best round, ratios the median)",
    ]
    with server_process() as server, Store(":memory:") as store:
        base_url = server.base_url
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


def forecast_answer(body: dict[str, Any]) -> Reply:
    """The server's side of the forecast section: a valid prediction for every deal, after 200 ms."""
    today = dt.date.fromisoformat(body["messages"][0]["content"].split("Today is ", 1)[1][:10])
    user = body["messages"][-1]["content"]
    lines = user.split("<deals>", 1)[1].rsplit("</deals>", 1)[0].strip().splitlines()
    predictions = [
        {
            "deal_id": json.loads(line)["deal_id"],
            "predicted_invoice_date": str(today + dt.timedelta(days=20)),
            "predicted_payment_date": str(today + dt.timedelta(days=57)),
            "confidence": 0.8,
            "assumptions": ["stage table realistic"],
            "missing_fields": [],
            "reasoning": "Stage table estimate; no risk in the notes.",
        }
        for line in lines
    ]
    return Reply.json({"predictions": predictions}, delay=REPLY_DELAY)


def bench_deals(count: int) -> pd.DataFrame:
    """Open deals over the seed stages and one unknown stage, with short notes."""
    stages = ["Order Received", "Approved", "Awaiting Site Readiness", "Under Progress", "Awaiting GR",
              "Design Review"]
    return conform(pd.DataFrame({
        "deal_id": [str(100000 + i) for i in range(count)],
        "title": [f"Fit-out project {i}" for i in range(count)],
        "stage": [stages[i % len(stages)] for i in range(count)],
        "status": "open",
        "value": 250000.0,
        "currency": "SAR",
        "organization": [f"Client {i % 37}" for i in range(count)],
        "created_at": AS_OF - dt.timedelta(days=120),
        "stage_changed_at": [AS_OF - dt.timedelta(days=i % 90) for i in range(count)],
        "notes": "Site visit done; waiting for the client's handover date.",
    }))


async def client_alone(base_url: str, batches: list[Batch], concurrency: int) -> float:
    """Seconds for the forecast's requests sent straight through LLMClient, ``concurrency`` at a time."""
    async with LLMClient(
        Settings.from_env({}), base_url=base_url, api_key="", store=Store(":memory:"), models=BENCH_MODELS,
        max_concurrency=concurrency,
    ) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(batch: Batch) -> None:
            async with gate:
                await client.generate_structured_completion(
                    DatePredictions, system_prompt=batch.system_prompt, user_prompt=batch.user_prompt,
                    tier="advanced",
                )

        started = time.perf_counter()
        await asyncio.gather(*(one(batch) for batch in batches))
        return time.perf_counter() - started


def forecast_through_llm(requests: int, rounds: int) -> list[str]:
    """Wall time of a 1,000-deal forecast through the LLM path, then the same forecast from the cache."""
    logging.getLogger("core.llm").setLevel(logging.WARNING)
    frame = bench_deals(FORECAST_DEALS)
    options = PredictionOptions(use_llm=True, llm_policy="all", store_results=False)
    waves = math.ceil(FORECAST_DEALS / options.llm_batch_size / options.llm_concurrency)
    ideal = waves * REPLY_DELAY
    registry = PromptRegistry()
    context = EngineContext(as_of=AS_OF, assumptions=SEED_PROFILE, options=options)
    batches = list(LLMRefiner(registry=registry).render_batches(
        registry.get(PROMPT_ID), frame, predict_frame(frame, AS_OF, SEED_PROFILE), context
    ))
    first: list[float] = []
    alone: list[float] = []
    lines = [
        f"{FORECAST_DEALS} deals, batches of {options.llm_batch_size}, {options.llm_concurrency} in flight, "
        f"server answers after {REPLY_DELAY * 1000:.0f} ms; ideal {waves} x {REPLY_DELAY} s = {ideal:.1f} s",
        f"{'round':>5}  {'client alone':>12}  {'requests':>8}  {'via llm':>7}  {'forecast':>8}  "
        f"{'ratio':>5}  {'cpu':>6}  {'again: requests':>15}  {'wall':>7}",
    ]
    with server_process(forecast_answer) as server:
        for number in range(1, rounds + 1):
            alone.append(asyncio.run(client_alone(server.base_url, batches, options.llm_concurrency)))
            with Store(":memory:") as store:
                client = LLMClient(
                    Settings.from_env({}), base_url=server.base_url, api_key="", store=store,
                    models=BENCH_MODELS, max_concurrency=options.llm_concurrency,
                )
                register_refiner("llm", LLMRefiner(client, registry))
                service = CashflowPredictionService(store)
                before = server.request_count()
                started, cpu = time.perf_counter(), time.process_time()
                run = service.run_deals(frame, AS_OF, options)
                wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                middle = server.request_count()
                started = time.perf_counter()
                service.run_deals(frame, AS_OF, options)
                again = time.perf_counter() - started
                repeat_requests = server.request_count() - middle
                run_sync(client.aclose())
            first.append(wall)
            via_llm = int((run.frame["method"] == "llm").sum())
            lines.append(
                f"{number:>5}  {alone[-1]:>11.2f}s  {middle - before:>8}  {via_llm:>7}  {wall:>7.2f}s  "
                f"{wall / ideal:>5.2f}  {cpu:>5.2f}s  {repeat_requests:>15}  {again:>6.2f}s"
            )
    best, median = min(first), statistics.median(first)
    lines.append(
        f"forecast best {best:.2f} s (ratio {best / ideal:.2f}), median {median:.2f} s "
        f"(ratio {median / ideal:.2f}): {'met' if best / ideal <= FORECAST_GOAL_RATIO else 'MISSED'} "
        f"(best <= {FORECAST_GOAL_RATIO}); client alone best {min(alone):.2f} s "
        f"(ratio {min(alone) / ideal:.2f}); repeat forecast: "
        f"{'met' if repeat_requests == 0 else 'MISSED'} (0 requests)"
    )
    return lines


SECTIONS: dict[str, Callable[[int, int], list[str]]] = {
    "LLM client overhead per request (local server, cache bypassed)": client_overhead,
    "Forecast of 1,000 deals through the LLM path (local server answering after 200 ms)": (
        forecast_through_llm
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per round and variant")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best is kept")
    parser.add_argument("--only", metavar="TEXT", help="run only the sections whose title contains TEXT")
    args = parser.parse_args()
    for title, section in SECTIONS.items():
        if args.only and args.only.lower() not in title.lower():
            continue
        print(f"\n{title}")
        for line in section(args.requests, args.rounds):
            print(line)


if __name__ == "__main__":
    main()
