"""Helpers the command modules share: opening the store and printing JSON."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from core.config import get_settings
from core.store import Store


def open_store(args: argparse.Namespace) -> Store:
    """The store named by ``--db``, else by settings."""
    return Store(args.db or get_settings().db)


def _default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(payload: Any) -> None:
    """Print one JSON document on stdout (dates as ISO strings)."""
    json.dump(payload, sys.stdout, default=_default, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
