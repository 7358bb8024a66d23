"""``serve``: the HTTP API on uvicorn (FastAPI), over the same database and services."""

from __future__ import annotations

import argparse
import os

from core.config import get_settings


def register(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the HTTP API (FastAPI on uvicorn)",
        description="Serve the HTTP API: forecasts, writer, snapshots, receivables, backtests, "
        "/metrics. Without DEALCAST_API_TOKENS it listens on loopback only.\n\n"
        "Example: python -m core serve --port 8000   # then open http://127.0.0.1:8000/docs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--db", metavar="CONNECTION",
        help="DuckDB file path or connection string (default: DEALCAST_DB or data/dealcast.duckdb)",
    )
    parser.add_argument("--host", help="address to listen on (default: DEALCAST_API_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: DEALCAST_API_PORT, 8000)")
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> None:
    from core.api.server import serve  # FastAPI and uvicorn load only for this command
    from core.database import check_database

    # Refuse a bad --db (or DEALCAST_DB) as every command does, before anything listens.
    check_database(get_settings().db if args.db is None else args.db)

    if args.db is not None:
        # The services read the process-wide settings: point them at this database.
        os.environ["DEALCAST_DB"] = args.db
        get_settings.cache_clear()
    serve(get_settings(), host=args.host, port=args.port)
