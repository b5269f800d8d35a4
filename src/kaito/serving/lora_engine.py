"""The engine side of adapter management: vLLM's runtime LoRA API, called in-process (no HTTP hop)."""

from __future__ import annotations

from typing import Any, Protocol


class AdapterLoadError(RuntimeError):
    """The engine refused an adapter; the message says why (shape mismatch, rank, missing modules...)."""


class LoraEngine(Protocol):
    """What the adapter manager needs from an engine."""

    async def loaded(self) -> dict[str, str]:
        """Adapters the engine serves now (the `/v1/models` view): name -> path."""
        ...

    async def load(self, name: str, path: str) -> None: ...

    async def unload(self, name: str) -> None: ...


class VllmLoraEngine:
    """Drives `OpenAIServingModels` (the object behind /v1/models and /v1/load_lora_adapter) directly."""

    def __init__(self, app_state: Any) -> None:
        self._state = app_state

    @property
    def _models(self) -> Any:
        return self._state.openai_serving_models

    async def loaded(self) -> dict[str, str]:
        listing = await self._models.show_available_models()
        return {card.id: str(card.root) for card in listing.data if card.parent is not None}

    async def load(self, name: str, path: str) -> None:
        from vllm.entrypoints.serve.lora.protocol import LoadLoRAAdapterRequest

        in_place = name in self._models.lora_requests
        request = LoadLoRAAdapterRequest(lora_name=name, lora_path=path, load_inplace=in_place)
        result = await self._models.load_lora_adapter(request)
        if not isinstance(result, str):
            raise AdapterLoadError(result.error.message)

    async def unload(self, name: str) -> None:
        from vllm.entrypoints.serve.lora.protocol import UnloadLoRAAdapterRequest

        # Removing it from the served list is enough: new requests naming it get a 404, while requests
        # already scheduled keep their LoRARequest (its path stays on disk) and finish normally. The
        # engine's LRU cache evicts its weights when the slot is needed.
        result = await self._models.unload_lora_adapter(UnloadLoRAAdapterRequest(lora_name=name))
        if not isinstance(result, str) and result.error.code != 404:
            raise AdapterLoadError(result.error.message)
