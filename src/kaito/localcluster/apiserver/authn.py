"""Who is calling: bearer tokens mapped to users (the admin superuser, ServiceAccounts) in the RBAC mode."""

from __future__ import annotations

import hashlib
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, replace

from kaito.localcluster.apiserver.storage import Storage

SUPERUSER_GROUP = "system:masters"
AUTHENTICATED = "system:authenticated"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated identity as the authorizer sees it: a user name, its groups and (for a
    ServiceAccount) the account object's uid."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""

    @property
    def is_superuser(self) -> bool:
        return SUPERUSER_GROUP in self.groups

    @property
    def service_account(self) -> tuple[str, str] | None:
        """(namespace, name) when this is a ServiceAccount's user."""
        if not self.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, name = self.name[len(SERVICE_ACCOUNT_PREFIX) :].partition(":")
        return (namespace, name) if namespace and name else None


ADMIN = UserInfo("kubernetes-admin", (SUPERUSER_GROUP, AUTHENTICATED))

# The user of the request being served; admission plugins (owner-reference enforcement) read it. Unset in
# the server's own control loops (garbage collection, namespace cleanup), which act as the system.
current_user: ContextVar[UserInfo | None] = ContextVar("kaito_localcluster_user", default=None)


def service_account_user(namespace: str, name: str) -> UserInfo:
    """The user Kubernetes derives from a ServiceAccount token."""
    return UserInfo(
        f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
    )


def _digest(token: str) -> str:
    # Tokens are looked up by digest, so the lookup time does not depend on how much of a guess matches.
    return hashlib.sha256(token.encode()).hexdigest()


class TokenAuthenticator:
    """Bearer tokens: the admin token (a ``system:masters`` superuser) and minted ServiceAccount tokens.

    A ServiceAccount token authenticates only while its ServiceAccount object exists, as bound tokens do.
    Tokens live in memory: a restarted process must mint them again.
    """

    def __init__(self, storage: Storage, admin_token: str) -> None:
        self.storage = storage
        self._users: dict[str, UserInfo] = {_digest(admin_token): ADMIN}

    def add_service_account_token(self, namespace: str, name: str, token: str | None = None) -> str:
        """Mint (or register ``token``) for ServiceAccount ``namespace/name``; returns the token."""
        token = token or secrets.token_urlsafe(32)
        self._users[_digest(token)] = service_account_user(namespace, name)
        return token

    def authenticate(self, authorization_header: str) -> UserInfo | None:
        """The user behind an ``Authorization: Bearer ...`` header, or None (401)."""
        if not authorization_header.startswith("Bearer "):
            return None
        user = self._users.get(_digest(authorization_header[7:].strip()))
        if user is None:
            return None
        account = user.service_account
        if account is None:
            return user
        found = self.storage.get(("", "serviceaccounts"), *account)
        if found is None:
            return None
        return replace(user, uid=str(found["metadata"].get("uid", "")))
