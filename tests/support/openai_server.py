"""A real OpenAI-compatible chat-completions server on 127.0.0.1, scripted by tests.

It speaks ``POST /v1/chat/completions`` over real HTTP/1.1 (keep-alive), answering with JSON
or, when the request says ``"stream": true``, with server-sent events (chunked). Each
request takes the next ``Reply`` from the script; when the script is empty the
``responder`` answers (default: the text "ok"). Every request is recorded.

    def test_retries_after_429(openai_server):
        openai_server.script(Reply.error(429, headers={"Retry-After": "2"}), Reply.text("hello"))
        client = LLMClient(settings, base_url=openai_server.base_url, sleep=recorded_sleep)
        ...
        assert len(openai_server.requests) == 2
        assert openai_server.requests[0].headers["authorization"] == "Bearer test-key"

A responder lets a test answer from the prompt (e.g. echo the deal ids it was sent):

    openai_server.responder = lambda body: Reply.json({"ids": ids_in(body["messages"])})

Faults a Reply can carry: any ``status`` with ``headers`` (Retry-After, retry-after-ms,
x-should-retry), a ``delay`` before answering (to trip client timeouts), a raw ``body``
(malformed JSON, empty choices), ``finish_reason="length"``, and ``fault`` one of
``"reset"`` (TCP reset before any answer), ``"close_mid_body"`` (headers and half the body,
then close), ``"truncate_stream"`` (close mid-stream), ``"no_done"`` (stream without
``[DONE]``), ``"no_usage"`` (stream without the usage chunk).

The ``openai_server`` pytest fixture (registered from tests/conftest.py) gives each test
its own server, stopped afterwards.
"""

from __future__ import annotations

import collections
import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT_USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
FAULTS = frozenset({"reset", "close_mid_body", "truncate_stream", "no_done", "no_usage"})


@dataclass
class Reply:
    """One scripted answer. Build it with the class methods for the common cases."""

    content: str = "ok"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None                       # raw body (str/bytes/JSON value) instead of a completion
    delay: float = 0.0                     # seconds to wait before answering
    finish_reason: str = "stop"
    usage: dict[str, Any] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    model: str | None = None               # default: the model the request named
    fault: str | None = None
    chunk_size: int = 4                    # characters per streamed text chunk

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; expected one of {sorted(FAULTS)}")

    @classmethod
    def text(cls, content: str, **options: Any) -> Reply:
        return cls(content=content, **options)

    @classmethod
    def json(cls, value: Any, *, fenced: bool = False, **options: Any) -> Reply:
        """A reply whose text is ``value`` as JSON, optionally inside a ```json fence with prose."""
        text = json.dumps(value)
        if fenced:
            text = f"Here is the result:\n```json\n{text}\n```\nLet me know if you need more."
        return cls(content=text, **options)

    @classmethod
    def error(cls, status: int, message: str = "scripted error", **options: Any) -> Reply:
        """An error status with an OpenAI-style error body."""
        return cls(status=status, body={"error": {"message": message, "code": status}}, **options)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]   # names lower-cased
    body: Any                 # the decoded JSON body (None when it was not JSON)


class OpenAIServer:
    """The server: ``start()``/``stop()`` or use it as a context manager."""

    def __init__(self, responder: Callable[[dict[str, Any]], str | Reply] | None = None) -> None:
        self.responder: Callable[[dict[str, Any]], str | Reply] = responder or (lambda body: Reply())
        self.requests: list[RecordedRequest] = []
        #: Requests being answered right now, and the most there have been at once.
        self.in_flight = 0
        self.max_in_flight = 0
        #: TCP connections accepted (a pooled client reuses one for sequential requests).
        self.connections = 0
        self._script: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
            name="openai-test-server", daemon=True,
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply | str) -> None:
        """Queue replies for the next requests, in order (a str is ``Reply.text``)."""
        with self._lock:
            self._script.extend(Reply.text(r) if isinstance(r, str) else r for r in replies)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._script)

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _next_reply(self, body: Any) -> Reply:
        with self._lock:
            if self._script:
                return self._script.popleft()
        answer = self.responder(body if isinstance(body, dict) else {})
        return Reply.text(answer) if isinstance(answer, str) else answer


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: OpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout) closes its end; that is expected here, not an error."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.owner._lock:
            self.server.owner.connections += 1
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every reply.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        self.server.owner._enter()
        try:
            self._answer()
        finally:
            self.server.owner._leave()

    def _answer(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        owner.requests.append(RecordedRequest(
            "POST", self.path, {name.lower(): value for name, value in self.headers.items()}, body
        ))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_bytes(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode(), {})
            return
        reply = owner._next_reply(body)
        if reply.delay and owner._stopping.wait(reply.delay):
            return
        if reply.fault == "reset":
            self._reset()
        elif reply.body is not None or reply.status >= 400:
            self._send_raw(reply)
        elif isinstance(body, dict) and body.get("stream"):
            self._send_stream(reply, body)
        else:
            self._send_completion(reply, body if isinstance(body, dict) else {})

    # -- answers -------------------------------------------------------------------------

    def _send_raw(self, reply: Reply) -> None:
        data = reply.body if reply.body is not None else {"error": {"message": "scripted error"}}
        if isinstance(data, str):
            payload = data.encode()
        elif isinstance(data, bytes):
            payload = data
        else:
            payload = json.dumps(data).encode()
        self._send_bytes(reply.status, payload, reply.headers)

    def _send_completion(self, reply: Reply, request: dict[str, Any]) -> None:
        completion: dict[str, Any] = {
            "id": f"chatcmpl-test-{len(self.server.owner.requests)}",
            "object": "chat.completion",
            "model": reply.model or request.get("model", "test-model"),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }],
        }
        if reply.usage is not None:
            completion["usage"] = reply.usage
        payload = json.dumps(completion).encode()
        if reply.fault == "close_mid_body":
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self._hang_up()
            return
        self._send_bytes(reply.status, payload, reply.headers)

    def _send_stream(self, reply: Reply, request: dict[str, Any]) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        base = {
            "id": f"chatcmpl-test-{len(self.server.owner.requests)}",
            "object": "chat.completion.chunk",
            "model": reply.model or request.get("model", "test-model"),
        }
        size = reply.chunk_size
        pieces = [reply.content[i:i + size] for i in range(0, len(reply.content), size)]
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": piece}}]} for piece in pieces]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]})
        wants_usage = (request.get("stream_options") or {}).get("include_usage")
        if wants_usage and reply.usage is not None and reply.fault != "no_usage":
            events.append({**base, "choices": [], "usage": reply.usage})
        self._write_chunk(b": keep-alive comment\n\n")
        for number, event in enumerate(events):
            if reply.fault == "truncate_stream" and number == 2:
                self._hang_up()
                return
            self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
        if reply.fault != "no_done":
            self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    # -- plumbing ------------------------------------------------------------------------

    def _send_bytes(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _hang_up(self) -> None:
        """Close the connection cleanly (FIN) in the middle of a reply."""
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _reset(self) -> None:
        """Drop the connection with a TCP reset, as a crashed server or proxy would."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


@pytest.fixture
def openai_server():
    """A fresh scripted chat-completions server on 127.0.0.1 for one test."""
    with OpenAIServer() as server:
        yield server
