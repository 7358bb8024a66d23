"""Benchmark: POST /cashflow/predict over HTTP under 50 concurrent clients, against the same call in-process.

    .venv/bin/python bench/api.py [--deals 100000] [--clients 50] [--seconds 20]

A snapshot of N generated Pipedrive deals (bench/forecast.py's ``stored_database``, ingested
once into bench/out/) is served by ``python -m core serve`` on a loopback port. One request
computes the forecast run and its answer; every later one is answered from the API's cache
(keyed by run and forecast options, checked against the database on each request), so what
is measured is what a BI tool polling the forecast gets: HTTP, auth, a database session to
resolve the snapshot, invoices and assumptions, and the cached JSON. ``--clients`` asyncio
clients (httpx, keep-alive) send the request back to back for ``--seconds``; the table shows
p50 and p95 latency and requests per second. The baseline is the same call in-process (the
same cache lookup in a database session, without HTTP); the ratio is HTTP p50 / in-process
p50 (at this concurrency most of the HTTP p50 is waiting for a turn: 2 cores serve 50 clients),
so one client alone is measured too, before the load. The in-process call opens and closes
the database file, as a script would; under load the API keeps it open between overlapping
requests.

Halfway through the load, a ``python -m core ingest`` of a small export (another process
writing to the same file) is run; its wall time, beside the same ingest with the API idle,
shows that a write gets its turn while the API is busy.
The request asks for periods only (``include_deals: false``); with every deal listed the
answer is megabytes of JSON per call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from forecast import stored_database

ROOT = Path(__file__).resolve().parent.parent
REQUEST = {"horizon_days": 90, "granularity": "week", "min_confidence": 0.5, "include_deals": False}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_process_p50(database: Path, calls: int = 50) -> float:
    """Milliseconds (median) of the predict call without HTTP, answered from the cache."""
    os.environ["DEALCAST_DB"] = str(database)
    from core.config import get_settings

    get_settings.cache_clear()
    from core.api.models import PredictRequest
    from core.api.runs import RunCache
    from core.cashflow.models import PredictionOptions
    from core.cashflow.service import get_cashflow_prediction_service
    from core.store import get_store

    body = PredictRequest(**REQUEST)
    runs = RunCache()
    service = get_cashflow_prediction_service()

    def call() -> bytes:
        with get_store().session():
            return runs.document(service, body.snapshot, PredictionOptions(engine=body.engine), body.forecast,
                                 include_deals=body.include_deals)

    call()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def write_during_load(database: Path, delay: float) -> float:
    """Seconds a CLI ingest into the served file takes, started ``delay`` s into the load."""
    time.sleep(delay)
    export = database.parent / "api_bench_write.csv"
    export.write_text("Deal - ID,Deal - Title,Deal - Value,Deal - Currency of Value,Deal - Stage,"
                      "Deal - Status,Deal - Deal created\n"
                      f"{time.time_ns()},Bench write,1000,SAR,Approved,Open,2026-01-05\n")
    env = {**os.environ, "DEALCAST_DB": str(database)}
    started = time.perf_counter()
    # Dated long before the bench snapshot, so "latest" (what the clients ask for) stays the same.
    command = [sys.executable, "-m", "core", "ingest", str(export), "--as-of", "2020-01-06"]
    done = subprocess.run(command, cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the write during the load failed: {done.stderr.strip()}")
    return time.perf_counter() - started


async def load(base_url: str, clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout (httpx's default is
    # also 5 s: a connection reused as the server closes it fails with ReadError).
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:

        async def client() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await http.post("/cashflow/predict", json=REQUEST)
                response.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    database = stored_database(args.deals)
    port = free_port()
    env = {**os.environ, "DEALCAST_DB": str(database), "DEALCAST_LOG_FORMAT": "json"}
    env.pop("DEALCAST_API_TOKENS", None)
    log = (database.parent / "api_server.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base_url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        started = time.perf_counter()
        httpx.post(f"{base_url}/cashflow/predict", json=REQUEST, timeout=600).raise_for_status()
        first = time.perf_counter() - started
        write_idle = write_during_load(database, 0)
        alone = statistics.median(asyncio.run(load(base_url, 1, 3.0)))
        with ThreadPoolExecutor(1) as pool:
            write = pool.submit(write_during_load, database, args.seconds / 2)
            latencies = asyncio.run(load(base_url, args.clients, args.seconds))
            write_seconds = write.result()
        load_average = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(30)
    baseline = in_process_p50(database)
    cuts = statistics.quantiles(latencies, n=100)
    p50, p95 = statistics.median(latencies), cuts[94]
    print(f"POST /cashflow/predict, {args.deals:,} deals, {args.clients} clients, {args.seconds:g} s "
          f"on loopback; load average {load_average:.2f} (at the end of the load)")
    print(f"first request (computes the run): {first:.2f} s")
    print(f"{'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'in-process p50 ms':>18} {'ratio':>8}")
    rate = len(latencies) / args.seconds
    ratio = p50 / baseline
    print(f"{len(latencies):>9} {rate:>8.1f} {p50:>8.1f} {p95:>8.1f} {baseline:>18.2f} {ratio:>7.1f}x")
    print(f"one client alone: p50 {alone:.1f} ms over HTTP, {alone / baseline:.1f}x the in-process p50 "
          "(the rest of the 50-client p50 is waiting for a turn)")
    print(f"a CLI ingest into the same file took {write_seconds:.2f} s during the load, "
          f"{write_idle:.2f} s with the API idle (lock limit 30 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
