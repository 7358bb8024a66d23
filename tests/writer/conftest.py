"""Writer fixtures: the shipped prompts, a client on the local chat-completions server, answers."""

from __future__ import annotations

import collections
from collections.abc import Callable

import pytest

from core.config import Settings
from core.llm import LLMClient, RetryPolicy, run_sync
from core.prompts import PromptRegistry
from core.writer.service import WriterService
from tests.support.openai_server import OpenAIServer, Reply
from tests.writer.helpers import ANSWERS, SECRET_KEY


async def no_sleep(seconds: float) -> None:
    """Retries without waiting, so fault tests stay fast."""


@pytest.fixture(scope="session")
def prompt_registry() -> PromptRegistry:
    """The shipped prompts; outcomes go to the registry's own in-memory store."""
    return PromptRegistry()


class ServerView:
    """One test's view of the shared server: its own script, responder and requests.

    Starting a server per test costs ~0.5 s at shutdown, so the writer tests share one and
    each test sees only what it caused. ``script`` queues replies for this test's next
    requests; ``responder`` (when set) answers after the script runs out; else every prompt
    gets its valid answer from ``ANSWERS``.
    """

    def __init__(self, server: OpenAIServer, default: Callable[[dict], Reply]) -> None:
        self.server = server
        self.base_url = server.base_url
        self.responder: Callable[[dict], Reply] | None = None
        self._default = default
        self._queue: collections.deque[Reply] = collections.deque()
        self._first = len(server.requests)

    def script(self, *replies: Reply) -> None:
        self._queue.extend(replies)

    @property
    def requests(self) -> list:
        return self.server.requests[self._first:]

    def answer(self, body: dict) -> Reply:
        if self._queue:
            return self._queue.popleft()
        return (self.responder or self._default)(body)


@pytest.fixture(scope="session")
def shared_server(prompt_registry):
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def llm_server(shared_server, prompt_registry):
    """The shared local chat-completions server, as this test's own (see ServerView)."""
    prompt_of = {prompt_registry.get(prompt_id).output_model: prompt_id for prompt_id in ANSWERS}

    def valid_answer(body: dict) -> Reply:
        system = body["messages"][0]["content"].replace('": "', '":"')
        for output_model, prompt_id in prompt_of.items():
            if f'"title":"{output_model}"' in system:
                return Reply.json(ANSWERS[prompt_id])
        return Reply.error(400, "the test server does not know this prompt")

    view = ServerView(shared_server, valid_answer)
    shared_server.responder = view.answer
    yield view
    shared_server.responder = lambda body: Reply.error(500, "no test is running")


@pytest.fixture
def llm(llm_server, settings):
    """A client on the local server: one retry, no waiting, no cache."""
    client = LLMClient(
        settings, base_url=llm_server.base_url, api_key=SECRET_KEY,
        retry=RetryPolicy(max_retries=1), sleep=no_sleep,
    )
    yield client
    run_sync(client.aclose())


@pytest.fixture
def writer(llm, prompt_registry) -> WriterService:
    return WriterService(llm, prompt_registry)


@pytest.fixture(scope="session")
def session_llm(shared_server):
    """One client for the tests whose every call succeeds: creating a client (its TLS
    context) costs ~0.1 s, and a client that sees no failure carries no state across tests."""
    client = LLMClient(
        Settings.from_env({}), base_url=shared_server.base_url, api_key=SECRET_KEY, sleep=no_sleep
    )
    yield client
    run_sync(client.aclose())


@pytest.fixture
def answering_writer(session_llm, llm_server, prompt_registry) -> WriterService:
    """A writer on the session client; the server gives every prompt its valid answer."""
    return WriterService(session_llm, prompt_registry)


@pytest.fixture
def offline_writer(settings, prompt_registry) -> WriterService:
    """A writer whose LLM is off: the default hosted URL and no key."""
    return WriterService(LLMClient(settings, api_key=""), prompt_registry)
