"""The reference's legacy `POST /chat`: `prompt` or `messages`, HF `generate_kwargs`, `{"Result": ...}` back.

Translated into an OpenAI completion / chat-completion request and served by the same in-process engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# (path, json body) -> (HTTP status, json answer), served by the OpenAI routes in-process.
Dispatch = Callable[[str, dict[str, Any]], Awaitable[tuple[int, Any]]]
DEFAULT_MAX_TOKENS = 200


class GenerateKwargs(BaseModel):
    """The transformers `generate()` arguments the reference accepted, mapped onto sampling parameters."""

    model_config = ConfigDict(extra="forbid")
    max_length: int | None = Field(default=None, ge=1)
    max_new_tokens: int | None = Field(default=None, ge=1)
    min_length: int | None = Field(default=None, ge=0)
    min_new_tokens: int | None = Field(default=None, ge=0)
    do_sample: bool | None = None
    temperature: float | None = Field(default=None, ge=0)
    top_k: int | None = Field(default=None, ge=-1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    typical_p: float | None = None
    repetition_penalty: float | None = Field(default=None, gt=0)
    num_return_sequences: int | None = Field(default=None, ge=1, le=16)
    seed: int | None = None
    stop: list[str] | str | None = None
    stop_sequences: list[str] | None = None
    early_stopping: bool | str | None = None
    num_beams: Literal[1] | None = None
    pad_token_id: int | None = None
    eos_token_id: int | list[int] | None = None

    def sampling(self) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": self.max_new_tokens or self.max_length or DEFAULT_MAX_TOKENS}
        minimum = self.min_new_tokens if self.min_new_tokens is not None else self.min_length
        if minimum:
            params["min_tokens"] = min(minimum, params["max_tokens"])
        if self.do_sample is False:
            params["temperature"] = 0.0
        elif self.temperature is not None:
            params["temperature"] = self.temperature
        for name in ("top_k", "top_p", "repetition_penalty", "seed"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.num_return_sequences:
            params["n"] = self.num_return_sequences
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        stops += self.stop_sequences or []
        if stops:
            params["stop"] = stops
        return params


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant", "tool"]
    content: str


class LegacyChatRequest(BaseModel):
    """Body of POST /chat; `model` defaults to the base model, or names an adapter."""

    model_config = ConfigDict(extra="forbid")
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    model: str | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    generate_kwargs: GenerateKwargs = GenerateKwargs()

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> LegacyChatRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("set exactly one of `prompt` (plain text) or `messages` (a chat)")
        return self


def error_body(message: str, status: int, param: str | None = None) -> dict[str, Any]:
    """The OpenAI error shape vLLM uses, so every client parses our errors the same way."""
    kind = "BadRequestError" if status < 500 else "InternalServerError"
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def _validation_message(err: ValidationError) -> tuple[str, str | None]:
    first = err.errors()[0]
    location = ".".join(str(p) for p in first["loc"])
    text = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors())
    return text, location or None


async def handle_legacy_chat(body: Any, base_model: str, dispatch: Dispatch) -> tuple[int, dict[str, Any]]:
    """Validate, translate, dispatch, and shape the answer; never raises for bad input."""
    try:
        request = LegacyChatRequest.model_validate(body)
    except ValidationError as err:
        message, param = _validation_message(err)
        return 400, error_body(message, 400, param)
    payload: dict[str, Any] = {"model": request.model or base_model, **request.generate_kwargs.sampling()}
    if request.messages is not None:
        payload["messages"] = [m.model_dump() for m in request.messages]
        status, answer = await dispatch("/v1/chat/completions", payload)
    else:
        payload["prompt"] = request.prompt
        status, answer = await dispatch("/v1/completions", payload)
    if status != 200:
        if isinstance(answer, dict) and "error" in answer:
            return status, answer
        return status, error_body(str(answer), status)
    texts: list[str] = []
    for choice in answer.get("choices", []):
        text = choice["message"].get("content") or "" if "message" in choice else choice.get("text", "")
        if request.prompt is not None and request.return_full_text:
            text = request.prompt + text
        texts.append(text)
    result: str | list[str] = texts[0] if len(texts) == 1 else texts
    return 200, {"Result": result}
