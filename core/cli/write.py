"""``python -m core write ACTION``: summaries, checks, emails and reminders for one deal.

The context comes from a stored deal (``--deal ID``, latest snapshot or ``--snapshot``) or
from a JSON file (``--context FILE.json``); flags set context fields on top. Every flag's
destination is the context field it sets, so what a flag does is what the field does.
With the LLM off or failing, the result is the writer's fallback and a warning on stderr.

In Python: ``core.writer.WriterService`` (``get_writer_service()``), with contexts from
``core.writer.records.load_deal`` and ``build_context``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from core.cli._shared import open_store, print_json
from core.config import get_settings
from core.errors import InputError, NotFoundError
from core.llm import LLMClient, run_sync
from core.prompts import PromptRegistry
from core.store import Store
from core.writer.models import (
    Channel,
    DealSummaryResult,
    Language,
    TextFormat,
    Tone,
    Urgency,
    WriterResult,
)
from core.writer.records import CONTEXT_TYPES, build_context, load_deal, validate_context
from core.writer.service import WriterService

#: Action -> (service method, one-line help, example arguments)
ACTIONS: dict[str, tuple[str, str, str]] = {
    "summarize": ("summarize_deal", "where a deal stands, blockers, next action",
                  "--deal 4821 --format bullets  (several: --deal 4821 --deal 4822 --max-concurrent 5)"),
    "compliance": ("analyze_compliance", "survey checklist, quality documents, custom fields",
                   "--deal 4821 --custom-fields"),
    "order": ("analyze_order_received", "Order Received: end user identified, their requests",
              "--deal 4821 --json"),
    "health": ("analyze_deal_health", "health against days-in-stage thresholds and communication gap",
               "--deal 4821 --snapshot 3"),
    "email": ("draft_email", "a follow-up email about one or more deals",
              "--deal 4821 --deal 4822 --to Faisal --tone formal --language ar"),
    "reminder": ("draft_reminder", "a WhatsApp, email or SMS reminder",
                 "--deal 4821 --channel sms --urgency high --due 2026-02-01"),
    "notes": ("summarize_notes", "a summary of a deal's notes with action items",
              "--context notes.json --format paragraph --max-length 60"),
}
STREAMS = {"summarize": "stream_deal_summary", "email": "stream_email_body"}


def _values(kind: type[Enum]) -> list[str]:
    return [member.value for member in kind]  # type: ignore[attr-defined]


def _option(parser: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> None:
    """A flag that sets a context field only when given (so a --context file's value stays)."""
    parser.add_argument(*flags, default=argparse.SUPPRESS, **kwargs)


def _tone(p: argparse.ArgumentParser) -> None:
    _option(p, "--tone", choices=_values(Tone), help="tone of the text (default: professional)")


def _constraints(p: argparse.ArgumentParser) -> None:
    _option(p, "--constraint", dest="constraints", action="append", metavar="TEXT",
            help="an extra instruction for the model; repeat for several")


def _layout(p: argparse.ArgumentParser, what: str) -> None:
    _option(p, "--format", choices=_values(TextFormat), help=f"{what} as bullets or one paragraph")
    _option(p, "--max-length", type=int, metavar="N", help=f"most words in the {what}")


def _max_notes(p: argparse.ArgumentParser) -> None:
    _option(p, "--max-notes", type=int, metavar="N", help="most recent notes sent to the model")


def _urgency(p: argparse.ArgumentParser) -> None:
    _option(p, "--urgency", choices=_values(Urgency), help="how pressing (default: medium)")


def _due(p: argparse.ArgumentParser) -> None:
    _option(p, "--due", dest="due_date", metavar="YYYY-MM-DD", help="date a reply or action is needed by")


def _sender(p: argparse.ArgumentParser) -> None:
    _option(p, "--sender", dest="sender_name", metavar="NAME", help="who signs the message")


def _stream(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream", action="store_true", help="print the text as the model writes it (no --json)")


def _summarize_options(p: argparse.ArgumentParser) -> None:
    _tone(p)
    _constraints(p)
    _layout(p, "summary")
    _max_notes(p)
    _stream(p)
    _option(p, "--no-blockers", dest="include_blockers", action="store_const", const=False,
            help="do not list blockers")
    _option(p, "--no-recommendations", dest="include_recommendations", action="store_const", const=False,
            help="do not list recommendations")
    p.add_argument("--max-concurrent", type=_at_least_one, default=5, metavar="N",
                   help="with several --deal: summaries written at once (default 5); output in input order")


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _compliance_options(p: argparse.ArgumentParser) -> None:
    _option(p, "--no-survey", dest="check_survey_checklist", action="store_const", const=False,
            help="skip the survey checklist check")
    _option(p, "--no-quality-docs", dest="check_quality_docs", action="store_const", const=False,
            help="skip the quality documents check")
    _option(p, "--custom-fields", dest="check_custom_fields", action="store_const", const=True,
            help="also check that every custom field of the export has a value")


def _email_options(p: argparse.ArgumentParser) -> None:
    _tone(p)
    _constraints(p)
    _urgency(p)
    _due(p)
    _sender(p)
    _max_notes(p)
    _stream(p)
    _layout(p, "body")
    _option(p, "--to", dest="recipients", action="append", metavar="NAME",
            help="a recipient; repeat for several (default: the deal's contact, else its organization)")
    _option(p, "--role", dest="recipient_role", metavar="ROLE", help="the readers' role (default: client)")
    _option(p, "--intent", dest="subject_intent", metavar="TEXT",
            help="what the email is for, in a few words (default: the next step and its date)")


def _reminder_options(p: argparse.ArgumentParser) -> None:
    _tone(p)
    _constraints(p)
    _urgency(p)
    _due(p)
    _sender(p)
    _option(p, "--channel", choices=_values(Channel), help="whatsapp, email or sms (default: whatsapp)")
    _option(p, "--recipient-role", metavar="ROLE", help="e.g. client, site engineer (default: client)")
    _option(p, "--recipient-name", metavar="NAME", help="who it is for (default: the deal's contact)")
    _option(p, "--about", dest="context", metavar="TEXT", help="what the reminder is about")
    _option(p, "--max-length", type=int, metavar="N",
            help="most characters (SMS, WhatsApp) or words (email); the channel's limit still applies")


def _notes_options(p: argparse.ArgumentParser) -> None:
    _layout(p, "summary")
    _max_notes(p)
    _option(p, "--no-action-items", dest="extract_action_items", action="store_const", const=False,
            help="do not list action items and owners")


OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "summarize": _summarize_options, "compliance": _compliance_options, "order": lambda p: None,
    "health": _tone, "email": _email_options, "reminder": _reminder_options, "notes": _notes_options,
}


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "write",
        help="summaries, checks, emails and reminders for a deal (LLM optional)",
        description=(
            "Write about a deal with the LLM, or without it (a template or extract, confidence 0, "
            "with a warning saying why).\n\nexamples:\n"
            + "\n".join(f"  python -m core write {action} {example}"
                        for action, (_, _, example) in ACTIONS.items())
        ),
        formatter_class=raw,
    )
    actions = parser.add_subparsers(dest="write_command", metavar="ACTION")
    actions.required = True
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--deal", dest="deals", action="append", metavar="ID",
                        help="a deal id from the snapshot (email: repeat for several deals)")
    source.add_argument("--snapshot", default="latest", metavar="ID",
                        help="snapshot id to read the deal from (default: latest)")
    source.add_argument("--context", type=Path, metavar="FILE.json",
                        help="the context as a JSON object instead of a stored deal; "
                             "flags override its fields")
    _option(source, "--language", choices=_values(Language), help="language of the text (default: en)")
    for action, (_, help_text, example) in ACTIONS.items():
        sub = actions.add_parser(
            action, parents=[common, source], help=help_text,
            description=(
                f"{help_text[0].upper()}{help_text[1:]}. Fields: "
                f"{', '.join(CONTEXT_TYPES[action].model_fields)}.\n\n"
                f"example:\n  python -m core write {action} {example}"
            ),
            formatter_class=raw,
        )
        OPTIONS[action](sub)
        sub.set_defaults(func=run_write, stream=False)


def run_write(args: argparse.Namespace) -> int | None:
    kind = args.write_command
    if args.stream and args.json:
        raise InputError("--stream prints text as it comes; it cannot be combined with --json.")
    fields = CONTEXT_TYPES[kind].model_fields
    options = {name: value for name, value in vars(args).items() if name in fields}
    if kind == "summarize" and args.deals and len(args.deals) > 1:
        return run_batch(args, options)
    with open_store(args) as store:
        context = _context(args, kind, store, options)
        client = LLMClient(get_settings(), store=store)
        # Loading the prompts takes a moment; with the LLM off only the fallbacks run.
        registry = PromptRegistry(store=store) if client.enabled else None
        writer = WriterService(client, registry)

        async def write() -> WriterResult | None:
            async with client:
                if not args.stream:
                    return await getattr(writer, ACTIONS[kind][0])(context)
                async for text in getattr(writer, STREAMS[kind])(context):
                    sys.stdout.write(text)
                    sys.stdout.flush()
                sys.stdout.write("\n")
                return None

        result = run_sync(write())
    if result is None:
        return
    if args.json:
        print_json(result)
        return
    print(result.as_text())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def run_batch(args: argparse.Namespace, options: dict[str, Any]) -> int | None:
    """``write summarize --deal A --deal B ...``: ``batch_summarize_deals``, results in input order.

    A deal that is not in the snapshot is reported as its item's error; a summary that
    failed is its fallback with a warning (as ``batch_summarize_deals`` gives it). The
    others still print. Exit status 1 when a deal could not be read.
    """
    if args.context or args.stream:
        raise InputError("Several --deal summaries take neither --context nor --stream.")
    with open_store(args) as store:
        contexts: dict[int, BaseModel] = {}
        missing: dict[int, str] = {}
        for index, deal_id in enumerate(args.deals):
            try:
                record = load_deal(store, deal_id, args.snapshot)
                contexts[index] = build_context("summarize", [record], options)
            except (NotFoundError, InputError) as exc:
                missing[index] = str(exc)
        client = LLMClient(get_settings(), store=store)
        writer = WriterService(client, PromptRegistry(store=store) if client.enabled else None)

        async def write() -> list[DealSummaryResult]:
            async with client:
                return await writer.batch_summarize_deals(list(contexts.values()), args.max_concurrent)

        written = dict(zip(contexts, run_sync(write()), strict=True))
    items = [
        {"deal_id": deal_id, "result": written.get(index), "error": missing.get(index)}
        for index, deal_id in enumerate(args.deals)
    ]
    if args.json:
        print_json(items)
    for item in items:
        result, deal_id = item["result"], item["deal_id"]
        if not args.json:
            print(f"== deal {deal_id} ==")
            print(result.as_text() if result else f"error: {item['error']}")
        for warning in result.warnings if result else []:
            print(f"warning: deal {deal_id}: {warning}", file=sys.stderr)
        if item["error"]:
            print(f"error: deal {deal_id}: {item['error']}", file=sys.stderr)
    return 1 if missing else None


def _context(args: argparse.Namespace, kind: str, store: Store, options: dict[str, Any]) -> BaseModel:
    if args.context and args.deals:
        raise InputError("Give either --deal or --context, not both.")
    if args.context:
        try:
            values = json.loads(args.context.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{args.context}: cannot read the context file: {exc.strerror}") from None
        except ValueError as exc:
            raise InputError(f"{args.context}: not valid JSON: {exc}") from None
        if not isinstance(values, dict):
            raise InputError(f"{args.context}: the context must be a JSON object.")
        return validate_context(kind, {**values, **options})
    if not args.deals:
        raise InputError("Give --deal ID (from a stored snapshot) or --context FILE.json.")
    if len(args.deals) > 1 and kind != "email":
        raise InputError(f"`write {kind}` takes one --deal; `write email` covers several deals in one "
                         "email, `write summarize` summarises several one by one.")
    records = [load_deal(store, deal_id, args.snapshot) for deal_id in args.deals]
    return build_context(kind, records, options)
