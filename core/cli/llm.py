"""``python -m core llm status | ask``: the LLM set-up at a glance, and one question to test it."""

from __future__ import annotations

import argparse
import json
import sys

from core.cli._shared import open_store, print_json
from core.config import get_settings
from core.llm import LLMClient, LLMResponse, llm_status, run_sync
from core.llm.config import TIERS
from core.llm.status import LLMStatus, format_circuit
from core.llm.usage import format_cost


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "llm",
        help="LLM status and a test question",
        description=(
            "Inspect the LLM configuration, or ask it one question.\n\nexample: python -m core llm status"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="llm_command", metavar="COMMAND")
    commands.required = True

    status = commands.add_parser(
        "status",
        parents=[common],
        help="base URL, models, key present, on/off and why, circuit, cache and call totals",
        description=(
            "Show the LLM configuration (never the API key itself, only whether one is set), "
            "whether the LLM is on and why not, the circuit breaker, the response cache and the "
            "calls logged in the database.\n\nexample: python -m core llm status --json"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.set_defaults(func=run_status)

    ask = commands.add_parser(
        "ask",
        parents=[common],
        help="send one prompt to the configured LLM and print the reply",
        description=(
            "Send one prompt through the full client (retries, cache, call log) and print the "
            "reply, to check a set-up end to end.\n\n"
            'example: python -m core llm ask "Say hello in Arabic" --tier fast --stream'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ask.add_argument("prompt", help="the user message to send")
    ask.add_argument("--system", help="an optional system message")
    ask.add_argument("--tier", choices=TIERS, default="fast", help="model tier to use (default: fast)")
    ask.add_argument("--model", help="a model id that overrides the tier's model")
    ask.add_argument("--max-tokens", type=int, help="cap on reply tokens")
    ask.add_argument("--stream", action="store_true", help="print the reply as it arrives")
    ask.add_argument("--no-cache", action="store_true", help="ask the server even if a cached reply exists")
    ask.set_defaults(func=run_ask)


def run_status(args: argparse.Namespace) -> None:
    with open_store(args) as store:
        status = llm_status(LLMClient(get_settings()), store)
    if args.json:
        print_json(status.model_dump(mode="json"))
    else:
        print(format_status(status))


def format_status(status: LLMStatus) -> str:
    lines = [
        f"LLM:       {'on' if status.enabled else 'off'}",
        f"Base URL:  {status.base_url}",
        f"API key:   {'set' if status.api_key_present else 'not set'}",
        "Models:    " + ", ".join(f"{tier}={model}" for tier, model in status.models.items()),
        f"Circuit:   {format_circuit(status)}",
    ]
    if status.disabled_reason:
        lines.insert(1, f"Why off:   {status.disabled_reason}")
    if status.cache_rows is not None:
        lines.append(f"Cache:     {status.cache_rows} replies ({status.cache_live_rows} not expired)")
    if status.calls is not None:
        calls = status.calls
        lines.append(
            f"Calls:     {calls.calls} logged ({calls.successes} ok, {calls.failures} failed, "
            f"{calls.cache_hits} from cache), {calls.total_tokens:,} tokens, "
            + format_cost(calls.total_cost_usd, calls.cost_unknown_calls)
        )
    return "\n".join(lines)


def run_ask(args: argparse.Namespace) -> None:
    with open_store(args) as store:
        client = LLMClient(get_settings(), store=store)
        options = {
            "system_prompt": args.system, "user_prompt": args.prompt, "tier": args.tier,
            "model": args.model, "max_tokens": args.max_tokens, "use_cache": not args.no_cache,
        }

        async def ask() -> LLMResponse | None:
            async with client:
                if not args.stream:
                    return await client.generate_completion(**options)
                parts = []
                async for text in client.stream_completion(**options):
                    parts.append(text)
                    # With --json, one JSON line per piece as it arrives, then the whole reply.
                    sys.stdout.write(json.dumps({"delta": text}, ensure_ascii=False) if args.json else text)
                    sys.stdout.write("\n" if args.json else "")
                    sys.stdout.flush()
                done = {"content": "".join(parts), "done": True}
                sys.stdout.write((json.dumps(done, ensure_ascii=False) if args.json else "") + "\n")
                return None

        response = run_sync(ask())
    if response is None:
        return
    if args.json:
        print_json(response.model_dump(mode="json"))
    else:
        print(response.content)
