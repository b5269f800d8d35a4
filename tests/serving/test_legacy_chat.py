"""Translation of the legacy /chat body into OpenAI requests, and of the answer into {"Result": ...}."""

from __future__ import annotations

from typing import Any

import pytest

from kaito.serving.legacy_chat import GenerateKwargs, handle_legacy_chat


class RecordingDispatch:
    """Answers like the OpenAI routes would, and keeps what it was asked."""

    def __init__(self, status: int = 200, answer: Any = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.status = status
        self.answer = answer

    async def __call__(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.calls.append((path, body))
        if self.answer is not None:
            return self.status, self.answer
        if path == "/v1/completions":
            return 200, {"choices": [{"text": " world"} for _ in range(body.get("n", 1))]}
        return 200, {"choices": [{"message": {"role": "assistant", "content": "hi there"}}]}


def test_generate_kwargs_map_to_sampling_parameters() -> None:
    kwargs = GenerateKwargs(
        max_length=50,
        do_sample=False,
        top_k=5,
        top_p=0.9,
        repetition_penalty=1.1,
        num_return_sequences=2,
        stop="\n",
    )
    assert kwargs.sampling() == {
        "max_tokens": 50, "temperature": 0.0, "top_k": 5, "top_p": 0.9, "repetition_penalty": 1.1, "n": 2,
        "stop": ["\n"],
    }  # fmt: skip
    assert GenerateKwargs(max_new_tokens=7, max_length=99, temperature=0.3).sampling() == {
        "max_tokens": 7,
        "temperature": 0.3,
    }
    assert GenerateKwargs().sampling() == {"max_tokens": 200}


async def test_prompt_goes_to_completions_and_echoes_by_default() -> None:
    dispatch = RecordingDispatch()
    status, body = await handle_legacy_chat({"prompt": "hello"}, "base", dispatch)
    assert (status, body) == (200, {"Result": "hello world"})
    assert dispatch.calls == [("/v1/completions", {"model": "base", "max_tokens": 200, "prompt": "hello"})]


async def test_messages_go_to_chat_completions() -> None:
    dispatch = RecordingDispatch()
    status, body = await handle_legacy_chat(
        {"messages": [{"role": "user", "content": "hey"}], "model": "adapter-1"}, "base", dispatch
    )
    assert (status, body) == (200, {"Result": "hi there"})
    path, sent = dispatch.calls[0]
    assert path == "/v1/chat/completions"
    assert sent["model"] == "adapter-1"
    assert sent["messages"] == [{"role": "user", "content": "hey"}]


async def test_several_sequences_come_back_as_a_list() -> None:
    status, body = await handle_legacy_chat(
        {"prompt": "a", "return_full_text": False, "generate_kwargs": {"num_return_sequences": 2}},
        "base",
        RecordingDispatch(),
    )
    assert (status, body) == (200, {"Result": [" world", " world"]})


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {},
        {"prompt": "a", "messages": [{"role": "user", "content": "b"}]},
        {"prompt": "a", "extra": 1},
        {"prompt": "a", "generate_kwargs": {"num_beams": 4}},
    ],
)
async def test_bad_bodies_are_400_in_openai_shape(body: Any) -> None:
    dispatch = RecordingDispatch()
    status, answer = await handle_legacy_chat(body, "base", dispatch)
    assert status == 400
    assert answer["error"]["code"] == 400
    assert answer["error"]["message"]
    assert dispatch.calls == []


async def test_engine_errors_pass_through() -> None:
    error = {"error": {"message": "too long", "type": "BadRequestError", "param": None, "code": 400}}
    assert await handle_legacy_chat({"prompt": "a"}, "base", RecordingDispatch(400, error)) == (400, error)
