"""Test doubles for the provisioner's Azure side: a static bearer-token credential."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken


class StaticTokenCredential:
    """An AsyncTokenCredential that always hands out the same token (the ARM emulator accepts it)."""

    def __init__(self, token: str = "emulator-token") -> None:
        self.token = token
        self.requests = 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.requests += 1
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None
