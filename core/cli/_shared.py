"""Helpers the command modules share: opening the store, printing JSON, options after an action word."""

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
    return Store(get_settings().db if getattr(args, "db", None) is None else args.db)


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


def after_action(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--db``/``--json`` again for after the action word, without defaults of their own, so
    ``snapshots --db X list`` keeps X (argparse lets a subparser's defaults win)."""
    again = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    for action in common._actions:
        again.add_argument(*action.option_strings, **_copy_options(action))
    return again


def _copy_options(action: argparse.Action) -> dict:
    options = {"help": action.help}
    if isinstance(action, argparse._StoreTrueAction):
        options["action"] = "store_true"
    else:
        options["metavar"] = action.metavar
    return options
