"""``python -m core prompts``: list, show and render prompt templates; compare A/B variants.

In Python: ``core.prompts.PromptRegistry`` (``list``, ``get``, ``render_prompt``,
``variant_report``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from core.cli._shared import open_store, print_json
from core.config import PROMPTS_DIR
from core.errors import InputError
from core.prompts import PromptRegistry, PromptTemplate


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    folder = argparse.ArgumentParser(add_help=False)
    folder.add_argument(
        "--prompts-dir", type=Path, default=PROMPTS_DIR, metavar="DIR",
        help=f"folder of prompt TOML files (default: {PROMPTS_DIR})",
    )
    parser = subparsers.add_parser(
        "prompts",
        help="list, show and render prompt templates; compare A/B variants",
        description=(
            "The prompt templates in prompts/*.toml (format: prompts/README.md).\n\n"
            "examples:\n"
            "  python -m core prompts list\n"
            "  python -m core prompts show deal.summarize\n"
            "  python -m core prompts render deal.summarize --sample --vars '{\"language\": \"ar\"}'\n"
            "  python -m core prompts report deal.summarize"
        ),
        formatter_class=raw,
    )
    actions = parser.add_subparsers(dest="prompts_command", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser(
        "list", parents=[common, folder], help="every prompt version and variant",
        description=(
            "List every prompt version and A/B variant.\n\nexample:\n  python -m core prompts list --json"
        ),
        formatter_class=raw,
    )
    listing.set_defaults(func=run_list)

    show = actions.add_parser(
        "show", parents=[common, folder], help="one prompt's settings, variables and templates",
        description=(
            "Show a prompt: tier, sampling, output model, variables with defaults, sample variables "
            "and both templates. ID is a bare id (latest version), a pinned version or a variant.\n\n"
            "examples:\n  python -m core prompts show deal.summarize\n"
            "  python -m core prompts show deal.summarize.v1.concise --json"
        ),
        formatter_class=raw,
    )
    show.add_argument("prompt_id", metavar="ID", help="e.g. deal.summarize or deal.summarize.v1")
    show.set_defaults(func=run_show)

    render = actions.add_parser(
        "render", parents=[common, folder], help="print the system and user prompt for given variables",
        description=(
            "Render a prompt's system and user templates. Variables come from --sample (the file's "
            "sample values), then --vars-file, then --vars, each overriding the one before. A missing "
            "required variable or bad JSON exits with status 2.\n\n"
            "examples:\n"
            "  python -m core prompts render reminder.sms --vars '{\"deal_title\": \"Riyadh HQ\"}'\n"
            "  python -m core prompts render deal.summarize --sample --vars '{\"format\": \"bullets\"}'\n"
            "  python -m core prompts render cashflow.predict_dates --vars-file vars.json --json"
        ),
        formatter_class=raw,
    )
    render.add_argument("prompt_id", metavar="ID", help="e.g. deal.summarize or deal.summarize.v1")
    render.add_argument("--vars", metavar="JSON", help="variables as a JSON object")
    render.add_argument("--vars-file", type=Path, metavar="FILE", help="variables from a JSON file")
    render.add_argument("--sample", action="store_true", help="start from the prompt's sample variables")
    render.add_argument("--key", metavar="KEY", help="A/B key (e.g. a deal id) that picks the variant")
    render.set_defaults(func=run_render)

    report = actions.add_parser(
        "report", parents=[common, folder], help="A/B outcomes per variant from the database",
        description=(
            "Compare A/B variants: outcomes recorded per variant (count, success rate, confidence, "
            "tokens, cost, latency) in the database's prompt_outcomes table.\n\n"
            "examples:\n  python -m core prompts report\n"
            "  python -m core prompts report deal.summarize --db data/dealcast.duckdb --json"
        ),
        formatter_class=raw,
    )
    report.add_argument("prompt_id", metavar="ID", nargs="?", help="only this prompt (bare id) or version")
    report.set_defaults(func=run_report)


def run_list(args: argparse.Namespace) -> None:
    templates = PromptRegistry(args.prompts_dir).list()
    if args.json:
        print_json([_summary(template) for template in templates])
        return
    rows = [
        (t.pinned_id, t.tier, f"{t.temperature:g}", str(t.max_tokens), t.output_model, f"{t.weight:g}",
         t.description)
        for t in templates
    ]
    _print_table(("ID", "TIER", "TEMP", "MAX TOKENS", "OUTPUT", "WEIGHT", "DESCRIPTION"), rows)


def run_show(args: argparse.Namespace) -> None:
    template = PromptRegistry(args.prompts_dir).get(args.prompt_id)
    if args.json:
        print_json({
            **_summary(template),
            "required_variables": list(template.required_variables),
            "optional_variables": list(template.optional_variables),
            "defaults": template.defaults,
            "sample": template.sample,
            "system": template.system.strip(),
            "user": template.user.strip(),
        })
        return
    print(f"{template.pinned_id}: {template.description}")
    print(f"tier {template.tier}, temperature {template.temperature:g}, max tokens {template.max_tokens}, "
          f"output {template.output_model}, variant {template.variant} (weight {template.weight:g})")
    print(f"file: {template.path}")
    print(f"required variables: {', '.join(template.required_variables)}")
    print("optional variables:")
    for name in template.optional_variables:
        default = template.defaults.get(name)
        print(f"  {name} = {json.dumps(default, ensure_ascii=False, default=str)}")
    print(f"\n--- system template ---\n{template.system.strip()}")
    print(f"\n--- user template ---\n{template.user.strip()}")


def run_render(args: argparse.Namespace) -> None:
    registry = PromptRegistry(args.prompts_dir)
    template = registry.get(args.prompt_id)
    if args.key is not None:
        template = registry.choose_variant(args.prompt_id, args.key)
    variables: dict[str, Any] = dict(template.sample) if args.sample else {}
    if args.vars_file is not None:
        try:
            text = args.vars_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--vars-file {args.vars_file}: cannot read it: {exc.strerror}") from None
        variables.update(_json_object(text, f"--vars-file {args.vars_file}"))
    if args.vars is not None:
        variables.update(_json_object(args.vars, "--vars"))
    system, user = registry.render_prompt(template, variables)
    if args.json:
        print_json({"id": template.pinned_id, "system": system, "user": user})
        return
    print(f"=== system ({template.pinned_id}) ===\n{system}\n\n=== user ===\n{user}")


def run_report(args: argparse.Namespace) -> None:
    with open_store(args) as store:
        summaries = PromptRegistry(args.prompts_dir, store=store).variant_report(args.prompt_id)
    if args.json:
        print_json([summary.model_dump() for summary in summaries])
        return
    rows = [
        (f"{s.prompt_id}.{s.version}", s.variant, _figure(s.weight, "{:g}"), str(s.count),
         _figure(s.success_rate, "{:.0%}"), _figure(s.avg_confidence, "{:.2f}"),
         _figure(s.avg_total_tokens, "{:.0f}"), _figure(s.total_cost_usd, "${:.4f}"),
         _figure(s.avg_latency_ms, "{:.0f} ms"))
        for s in summaries
    ]
    _print_table(("PROMPT", "VARIANT", "WEIGHT", "COUNT", "SUCCESS", "AVG CONF", "AVG TOKENS", "COST",
                  "AVG LATENCY"), rows)


def _summary(template: PromptTemplate) -> dict[str, Any]:
    return {
        "pinned_id": template.pinned_id,
        **template.config.model_dump(),
        "weight": template.weight,
        "description": template.description,
        "path": str(template.path),
    }


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InputError(f"{source} is not valid JSON: {exc.msg} ({where})") from None
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise InputError(f"{source} must be a JSON object of variable names to values, not {kind}")
    return value


def _figure(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
