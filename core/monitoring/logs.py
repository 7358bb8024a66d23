"""structlog, configured once per process: every log event as one JSON object (or a console line).

``DEALCAST_LOG_FORMAT`` picks ``json`` or ``console``; ``auto`` (the default) is json unless
stderr is a terminal. Standard-library loggers (``core.llm``, uvicorn) go through the same
formatter, with their ``extra`` fields as event keys. When tracing is on, each event carries
the current ``trace_id`` and ``span_id``.

structlog (which imports asyncio, ~30 ms) is imported by the first event that is logged: a
command-line run logs warnings only, so most runs never import it. ``get_logger``'s loggers
look at the standard level first, and the handler builds structlog's formatter at its first
record.

Like ``logging.basicConfig``, nothing is installed when the root logger already has a
handler (a host such as pytest owns the output), unless ``force`` says so.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

from core.monitoring.tracing import trace_ids

if TYPE_CHECKING:
    import structlog

_HANDLER_NAME = "dealcast"


def _add_trace_ids(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    event.update(trace_ids())
    return event


def _shared(structlog) -> list[Any]:
    """The processors every event goes through, structlog's own and the standard library's."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]


@functools.cache
def _structlog():
    """structlog, configured (once): its events always go through standard logging, so with no
    handler configured (a library use, a test) they follow its rules (warnings and up on
    stderr) instead of printing to stdout."""
    import structlog

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(structlog),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return structlog


class EventLogger:
    """A named logger of structured events (``log.info("forecast", engine="rules", ...)``).

    An event below the standard logger's level is dropped before structlog is imported."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._standard = logging.getLogger(name)
        self._bound: structlog.stdlib.BoundLogger | None = None

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if not self._standard.isEnabledFor(level):
            return
        if self._bound is None:
            self._bound = _structlog().get_logger(self.name)
        self._bound.log(level, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each event."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _EventFormatter(logging.Formatter):
    """structlog's ``ProcessorFormatter`` rendering JSON or console lines, built at the first record."""

    def __init__(self, json_lines: bool) -> None:
        super().__init__()
        self.json_lines = json_lines
        self._formatter: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._formatter is None:  # the handler's lock is held: built once
            structlog = _structlog()
            renderer = (
                structlog.processors.JSONRenderer()
                if self.json_lines
                else structlog.dev.ConsoleRenderer(colors=False)
            )
            self._formatter = structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[*_shared(structlog), structlog.stdlib.ExtraAdder()],
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
            )
        return self._formatter.format(record)


def wants_json(fmt: str, stream: TextIO | None = None) -> bool:
    """``json``/``console`` as given; ``auto``: json unless the stream is a terminal."""
    fmt = fmt.strip().lower()
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"DEALCAST_LOG_FORMAT={fmt!r} is not one of auto, json, console")
    if fmt == "auto":
        stream = stream or sys.stderr
        return not (hasattr(stream, "isatty") and stream.isatty())
    return fmt == "json"


def configure_logging(
    fmt: str = "auto", *, level: int = logging.INFO, stream: TextIO | None = None, force: bool = False
) -> None:
    """Send structlog and standard logging through one formatter on stderr (or ``stream``)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    if root.handlers and not ours and not force:
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_EventFormatter(wants_json(fmt, stream)))
    root.addHandler(handler)
    root.setLevel(level)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)
