"""`kaito serve` end to end on the tiny model: OpenAI SDK, legacy /chat, health, metrics, bad requests."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from .serving_env import ServeProcess

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture
def openai_client(serve: ServeProcess):  # type: ignore[no-untyped-def]
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=f"{serve.base_url}/v1", api_key="unused", max_retries=0, timeout=60)


async def test_models_lists_the_preset_name(serve: ServeProcess, openai_client) -> None:  # type: ignore[no-untyped-def]
    models = await openai_client.models.list()
    assert serve.model in [m.id for m in models.data]


async def test_chat_completion_with_the_sdk(serve: ServeProcess, openai_client) -> None:  # type: ignore[no-untyped-def]
    reply = await openai_client.chat.completions.create(
        model=serve.model, messages=[{"role": "user", "content": "Hello"}], max_tokens=8, temperature=0
    )
    assert reply.choices[0].message.role == "assistant"
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0


async def test_completion_is_deterministic_under_greedy_decoding(serve: ServeProcess, openai_client) -> None:  # type: ignore[no-untyped-def]
    first = await openai_client.completions.create(
        model=serve.model, prompt="Hello", max_tokens=8, temperature=0
    )
    second = await openai_client.completions.create(
        model=serve.model, prompt="Hello", max_tokens=8, temperature=0
    )
    assert first.choices[0].text
    assert first.choices[0].text == second.choices[0].text


async def test_streaming_chat_yields_chunks(serve: ServeProcess, openai_client) -> None:  # type: ignore[no-untyped-def]
    stream = await openai_client.chat.completions.create(
        model=serve.model,
        messages=[{"role": "user", "content": "Write a poem"}],
        max_tokens=12,
        temperature=0,
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert len(pieces) > 1
    assert "".join(pieces)


async def test_legacy_chat_prompt_returns_result(serve: ServeProcess, openai_client) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=60) as http:
        response = await http.post(
            "/chat", json={"prompt": "Hello", "generate_kwargs": {"max_new_tokens": 8, "do_sample": False}}
        )
    assert response.status_code == 200
    result = response.json()["Result"]
    expected = await openai_client.completions.create(
        model=serve.model, prompt="Hello", max_tokens=8, temperature=0
    )
    assert result == "Hello" + expected.choices[0].text


async def test_legacy_chat_messages_and_without_full_text(serve: ServeProcess) -> None:
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=60) as http:
        chat = await http.post(
            "/chat",
            json={"messages": [{"role": "user", "content": "Hi"}], "generate_kwargs": {"max_length": 6}},
        )
        bare = await http.post(
            "/chat",
            json={"prompt": "Hello", "return_full_text": False, "generate_kwargs": {"max_new_tokens": 4}},
        )
    assert chat.status_code == 200
    assert isinstance(chat.json()["Result"], str)
    assert bare.status_code == 200
    assert not bare.json()["Result"].startswith("Hello model")  # the prompt is not echoed


async def test_health_and_metrics(serve: ServeProcess) -> None:
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=30) as http:
        await http.post("/chat", json={"prompt": "Hello", "generate_kwargs": {"max_new_tokens": 2}})
        health = await http.get("/health")
        metrics = await http.get("/metrics")
    assert health.status_code == 200
    text = metrics.text
    assert "vllm:" in text  # the engine's metrics
    assert 'kaito_legacy_chat_requests_total{status="200"}' in text
    assert "kaito_serve_info{" in text


MALFORMED: list[tuple[str, object]] = [
    ("/chat", {}),
    ("/chat", {"prompt": "a", "messages": [{"role": "user", "content": "b"}]}),
    ("/chat", {"prompt": 5}),
    ("/chat", {"prompt": "a", "generate_kwargs": {"max_new_tokens": -1}}),
    ("/chat", {"prompt": "a", "generate_kwargs": {"unknown_knob": 1}}),
    ("/chat", {"prompt": "a", "generate_kwargs": {"max_new_tokens": 100000}}),
    ("/chat", {"prompt": "a", "model": "no-such-adapter"}),
    ("/chat", {"messages": [{"role": "wizard", "content": "b"}]}),
    ("/chat", [1, 2, 3]),
    ("/v1/completions", {"model": "tiny-llama"}),
    ("/v1/completions", {"model": "tiny-llama", "prompt": "x", "max_tokens": "many"}),
    ("/v1/completions", {"model": "tiny-llama", "prompt": "x", "max_tokens": 100000}),
    ("/v1/completions", {"model": "nope", "prompt": "x"}),
    ("/v1/completions", {"model": "tiny-llama", "prompt": "x", "temperature": -3}),
    ("/v1/chat/completions", {"model": "tiny-llama", "messages": "hello"}),
    ("/v1/chat/completions", {"model": "tiny-llama", "messages": [{"content": "no role"}]}),
    ("/v1/chat/completions", {"model": "tiny-llama", "messages": [], "n": 0}),
]


@pytest.mark.parametrize(("path", "body"), MALFORMED)
async def test_malformed_requests_get_openai_style_4xx(serve: ServeProcess, path: str, body: object) -> None:
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=60) as http:
        response = await http.post(path, json=body)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["message"]
    assert error["code"] == response.status_code


async def test_raw_garbage_bodies_never_5xx(serve: ServeProcess) -> None:
    rng = random.Random(7)
    bodies: list[bytes] = [b"", b"{", b"null", b"\xff\xfe", b'{"prompt": "x"' + b"}" * 3]
    bodies += [json.dumps({"prompt": rng.choice(["", "a" * 50, 3, None])}).encode() for _ in range(10)]
    async with httpx.AsyncClient(base_url=serve.base_url, timeout=60) as http:
        for body in bodies:
            for path in ("/chat", "/v1/completions", "/v1/chat/completions"):
                response = await http.post(path, content=body, headers={"content-type": "application/json"})
                assert response.status_code < 500, (path, body, response.text)
