"""The `openai` backend against an OpenAI-compatible emulator on loopback."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from core.errors import ConfigError, GenerationError
from model.generator import Finished, GenerationEvent, GenerationParams, Message, TextDelta
from model.openai_compat import OpenAIGenerator, SSEDecoder
from tests.model.openai_emulator import OpenAIEmulator

MESSAGES = (Message("system", "You write like the owner."), Message("user", "Say hello."))
PARAMS = GenerationParams(max_new_tokens=64)


@pytest.fixture
async def emulator() -> AsyncIterator[OpenAIEmulator]:
    server = OpenAIEmulator()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def generator(emulator: OpenAIEmulator) -> AsyncIterator[OpenAIGenerator]:
    gen = await OpenAIGenerator.connect(emulator.url, "twin-7b")
    try:
        yield gen
    finally:
        await gen.aclose()


async def collect(
    gen: OpenAIGenerator, params: GenerationParams = PARAMS, messages: Sequence[Message] = MESSAGES
) -> list[GenerationEvent]:
    return [event async for event in gen.stream(messages, params)]


def text_of(events: list[GenerationEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- streaming ---------------------------------------------------------------------------


async def test_streams_deltas_then_one_finished_with_the_servers_usage(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    emulator.script.delay = 0.05
    events: list[GenerationEvent] = []
    received: list[float] = []  # when each event reached the consumer
    sent = time.perf_counter()
    async for event in generator.stream(MESSAGES, PARAMS):
        events.append(event)
        received.append(time.perf_counter())
    assert [e for e in events if isinstance(e, TextDelta)] == [
        TextDelta(t) for t in ["Hello", ", ", "world", "."]
    ]  # the role-only first chunk (content "") yields nothing
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert sum(isinstance(e, Finished) for e in events) == 1
    assert finished.finish_reason == "stop"
    assert (finished.prompt_tokens, finished.completion_tokens) == (21, 4)
    # Timed from the request to the first text, then from the first text to the end.
    assert 0.05 <= finished.time_to_first_token <= received[0] - sent
    assert finished.tokens_per_second == pytest.approx(4 / (received[-1] - received[0]), rel=0.1)


@pytest.mark.parametrize(
    ("sent", "mapped"), [("stop", "stop"), ("length", "length"), ("tool_calls", "stop")]
)
async def test_finish_reasons_are_mapped_and_missing_usage_is_estimated(
    emulator: OpenAIEmulator, generator: OpenAIGenerator, sent: str, mapped: str
) -> None:
    emulator.script.finish_reason = sent
    emulator.script.usage = None
    finished = (await collect(generator))[-1]
    assert isinstance(finished, Finished)
    assert finished.finish_reason == mapped
    assert finished.prompt_tokens == generator.count_tokens(MESSAGES)
    assert finished.completion_tokens == 4  # one per content delta


async def test_the_request_carries_messages_limits_stop_and_sampling(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    params = GenerationParams(
        max_new_tokens=33, temperature=0.2, top_p=0.8, top_k=20, stop=("\n\n", "User:"), seed=7
    )
    await collect(generator, params)
    await collect(generator, GenerationParams())
    body, plain = emulator.requests
    assert body["model"] == "twin-7b"
    assert body["messages"] == [
        {"role": "system", "content": "You write like the owner."},
        {"role": "user", "content": "Say hello."},
    ]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (33, 0.2, 0.8)
    assert (body["top_k"], body["repetition_penalty"]) == (20, 1.05)
    assert (body["stop"], body["seed"]) == (["\n\n", "User:"], 7)
    assert "stop" not in plain and "seed" not in plain


async def test_events_split_across_network_chunks_are_reassembled(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    emulator.script.split = 3  # 3-byte writes, CRLF line ends, keep-alive comments
    emulator.script.deltas = ["Grüße", ", ", "naïve 👋", " done"]
    events = await collect(generator)
    assert text_of(events) == "Grüße, naïve 👋 done"
    assert isinstance(events[-1], Finished) and events[-1].completion_tokens == 4


def test_sse_decoder_handles_any_split_line_ends_comments_and_multiline_data() -> None:
    stream = (
        ': ping\r\n\r\nevent: message\r\nid: 1\r\ndata: {"a": 1}\r\n\r\n'
        "data: crlf\r\ndata: lines\r\n\r\n"
        "data: first line\rdata:second line\r\r"
        "retry: 10\n\n"  # no data: no event
        'data: {"b": "é"}\n\ndata: [DONE]\n\n'
    ).encode()
    expected = ['{"a": 1}', "crlf\nlines", "first line\nsecond line", '{"b": "é"}', "[DONE]"]
    for size in (1, 2, 5, len(stream)):
        decoder = SSEDecoder()
        events: list[str] = []
        for at in range(0, len(stream), size):
            events += decoder.feed(stream[at : at + size])
        assert events == expected, size
    assert SSEDecoder().feed(b"data: no blank line yet") == []


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["drop", "truncate"])
async def test_a_stream_cut_off_mid_reply_raises_naming_the_server(
    emulator: OpenAIEmulator, generator: OpenAIGenerator, mode: str
) -> None:
    emulator.script.mode = mode  # type: ignore[assignment]
    seen: list[GenerationEvent] = []
    with pytest.raises(GenerationError, match="cut the draft off") as info:
        async for event in generator.stream(MESSAGES, PARAMS):
            seen.append(event)
    assert seen == [TextDelta("Hello"), TextDelta(", ")]  # what came before the cut
    assert emulator.url in str(info.value) and "retry" in str(info.value)
    assert "\n" not in str(info.value)


async def test_an_error_event_mid_stream_raises_with_its_message(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    emulator.script.mode = "error_event"
    with pytest.raises(GenerationError, match="failed mid-reply: CUDA out of memory"):
        await collect(generator)


async def test_a_server_error_raises_with_the_servers_message(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    emulator.script.mode = "error"
    with pytest.raises(GenerationError, match="HTTP 500: CUDA out of memory while decoding"):
        await collect(generator)


async def test_a_refused_key_says_to_set_the_env_var(emulator: OpenAIEmulator) -> None:
    emulator.api_key = "sk-right"
    with pytest.raises(ConfigError, match="TWIN_MODEL__API_KEY") as info:
        await OpenAIGenerator.connect(emulator.url, api_key="sk-wrong")
    assert "HTTP 401" in str(info.value) and "sk-wrong" not in str(info.value)
    gen = await OpenAIGenerator.connect(emulator.url, api_key="sk-right")
    try:
        await collect(gen)
        assert emulator.authorization == ["Bearer sk-right"]
        emulator.script.mode = "unauthorized"  # the key is revoked while the bot runs
        with pytest.raises(ConfigError, match="TWIN_MODEL__API_KEY"):
            await collect(gen)
    finally:
        await gen.aclose()


async def test_a_read_timeout_between_chunks_raises(emulator: OpenAIEmulator) -> None:
    emulator.script.pause_after = 1  # the model stalls after one delta
    gen = await OpenAIGenerator.connect(emulator.url, read_timeout=0.3)
    try:
        with pytest.raises(GenerationError, match="timed out"):
            await asyncio.wait_for(collect(gen), 10)  # fails, not hangs, with no timeout
    finally:
        await gen.aclose()
    await asyncio.wait_for(emulator.abandoned.wait(), 10)


# --- start-up ------------------------------------------------------------------------------


async def test_a_server_that_is_down_fails_connect_naming_the_url() -> None:
    with socket.socket() as sock:  # a port nothing listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ConfigError) as info:
        await OpenAIGenerator.connect(url, connect_timeout=5)
    message = str(info.value)
    assert f"cannot reach the model server at {url} (" in message
    assert "model.url" in message and "\n" not in message


async def test_an_unknown_model_fails_connect_listing_the_served_ones(
    emulator: OpenAIEmulator,
) -> None:
    with pytest.raises(ConfigError, match="'llama-70b' is not served") as info:
        await OpenAIGenerator.connect(emulator.url, "llama-70b")
    assert "twin-7b, base-7b" in str(info.value)


async def test_connect_picks_the_model_and_accepts_a_trailing_slash(
    emulator: OpenAIEmulator,
) -> None:
    first = await OpenAIGenerator.connect(emulator.url + "/", context_length=4096)
    second = await OpenAIGenerator.connect(emulator.url, "base-7b")
    try:
        assert (first.model_id, first.model_version, first.context_length) == (
            "twin-7b",
            "emulator",
            4096,
        )
        assert (second.model_id, second.context_length) == ("base-7b", 8192)
        assert first.backend == "openai" and first.can_batch
        assert text_of(await collect(first)) == "Hello, world."
        assert emulator.requests[-1]["model"] == "twin-7b"
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ConfigError, match="must start with http"):
        await OpenAIGenerator.connect("127.0.0.1:5000/v1")


def test_count_tokens_is_an_estimate_from_characters() -> None:
    gen = OpenAIGenerator.__new__(OpenAIGenerator)
    assert gen.count_tokens([Message("user", "x" * 7)]) == 3 + 8
    assert gen.count_tokens([Message("system", "x" * 9), Message("user", "")]) == 3 + 16


async def test_the_servers_own_context_window_wins(emulator: OpenAIEmulator) -> None:
    emulator.max_model_len = 2048
    gen = await OpenAIGenerator.connect(emulator.url, "twin-7b", context_length=8192)
    try:
        assert gen.context_length == 2048
    finally:
        await gen.aclose()


# --- cancellation and concurrency ------------------------------------------------------------


async def test_closing_the_stream_early_tells_the_server(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    emulator.script.pause_after = 1  # only leaving would end this stream
    stream = generator.stream(MESSAGES, PARAMS)
    assert await anext(stream) == TextDelta("Hello")
    await stream.aclose()
    await asyncio.wait_for(emulator.abandoned.wait(), 10)
    assert emulator.completed == 0


async def test_cancelling_the_consumer_tells_the_server(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    emulator.script.pause_after = 1
    task = asyncio.create_task(collect(generator))
    await asyncio.wait_for(emulator.paused.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(emulator.abandoned.wait(), 10)
    assert emulator.completed == 0


async def test_two_streams_run_at_once_and_both_finish(
    emulator: OpenAIEmulator, generator: OpenAIGenerator
) -> None:
    emulator.script.together = 2  # neither stream starts until both are open
    one, two = await asyncio.wait_for(asyncio.gather(collect(generator), collect(generator)), 10)
    for events in (one, two):
        assert text_of(events) == "Hello, world."
        assert isinstance(events[-1], Finished)
    assert emulator.completed == 2
