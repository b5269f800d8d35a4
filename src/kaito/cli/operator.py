"""`kaito operator`: the control plane process: the workspace and provisioner controllers and the webhook.

Controllers run on the elected leader only; the admission webhook serves on every replica, beside the
manager, because the API server may call any of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kaito.cli.logs import configure_logging

CONTROLLERS = ("workspace", "provisioner")
DEFAULT_CONTROLLERS = ",".join(CONTROLLERS)

_EPILOG = """\
Every flag falls back to an environment variable, then to a default:
  manager      KAITO_KUBECONFIG, KAITO_CONTEXT, KAITO_LEADER_ELECT, KAITO_LEASE_NAMESPACE, KAITO_LEASE_NAME,
               KAITO_IDENTITY or POD_NAME, KAITO_BIND_ADDRESS (/healthz, /readyz, /metrics; default
               0.0.0.0:8080), KAITO_SHUTDOWN_TIMEOUT, KAITO_LOG_LEVEL
  workspace    KAITO_INFERENCE_IMAGE, KAITO_TUNING_IMAGE, KAITO_IMAGE_PULL_SECRETS (JSON list),
               KAITO_DEFAULT_STORAGE_CLASS, KAITO_NODE_CLASS_{GROUP,KIND,NAME}, KAITO_WORKSPACE_WORKERS
  provisioner  KAITO_PROVISIONER_PROVIDER (azure|local), AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP,
               AZURE_CLUSTER_NAME, AZURE_LOCATION, KAITO_PROVISIONER_* (see the flags below)
  webhook      KAITO_WEBHOOK_PORT (9443), KAITO_WEBHOOK_SERVICE_NAMESPACE or POD_NAMESPACE (kaito-system),
               KAITO_WEBHOOK_SERVICE_NAME (kaito-webhook), KAITO_WEBHOOK_SECRET_NAME (kaito-webhook-cert),
               KAITO_WEBHOOK_CERT_DIR, KAITO_WEBHOOK_URL_HOST, KAITO_WEBHOOK_REGISTER,
               KAITO_WEBHOOK_NAMESPACE_SELECTOR (JSON), KAITO_WEBHOOK_ALLOW_PRIVATE_URLS
Without --webhook-cert-dir the webhook makes its own CA, keeps it in the Secret (shared by all replicas),
registers the Validating/MutatingWebhookConfigurations with that CA and renews the serving certificate
30 days before it expires, without a restart.
Exit codes: 0 stopped by SIGTERM/SIGINT, 1 failed or lost leadership (restart as a follower), 2 bad flags."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kaito.provisioner.settings import add_arguments as add_provisioner_arguments

    parser = subparsers.add_parser(
        "operator",
        help="run the kaito operator (controllers and admission webhook)",
        description="Run kaito's controllers (leader only) and its admission webhook (every replica).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--controllers",
        default=DEFAULT_CONTROLLERS,
        help=f"comma-separated controllers to run, from {', '.join(CONTROLLERS)} (default: all; "
        "'' for none, e.g. a webhook-only replica)",
    )
    flag = argparse.BooleanOptionalAction
    manager = parser.add_argument_group("manager")
    manager.add_argument(
        "--kubeconfig", type=Path, default=None, help="kubeconfig file (default: in-cluster)"
    )
    manager.add_argument("--context", default=None, help="kubeconfig context")
    manager.add_argument("--leader-elect", action=flag, default=None, help="elect a leader (default: on)")
    manager.add_argument("--lease-namespace", default=None, help="namespace of the leader Lease")
    manager.add_argument("--lease-name", default=None, help="name of the leader Lease")
    manager.add_argument("--identity", default=None, help="this replica's name in the Lease")
    manager.add_argument("--health-address", default=None, help="host:port of /healthz, /readyz, /metrics")
    manager.add_argument("--shutdown-timeout", type=float, default=None, help="seconds SIGTERM drains")
    manager.add_argument("--log-level", default=None, help="debug, info, warning, error (default: info)")
    manager.add_argument("--log-format", choices=("json", "console"), default="json")
    workspace = parser.add_argument_group("workspace controller")
    workspace.add_argument("--inference-image", default=None, help="image of inference pods")
    workspace.add_argument("--tuning-image", default=None, help="image of tuning jobs")
    add_provisioner_arguments(parser)
    webhook = parser.add_argument_group("admission webhook")
    webhook.add_argument("--webhook", action=flag, default=True, help="serve the admission webhook")
    webhook.add_argument("--webhook-host", default=None, help="listen address (default 0.0.0.0)")
    webhook.add_argument("--webhook-port", type=int, default=None, help="HTTPS port (default 9443; 0: any)")
    webhook.add_argument(
        "--webhook-cert-dir", type=Path, default=None, help="use tls.crt/tls.key/ca.crt here"
    )
    webhook.add_argument("--webhook-service-name", default=None, help="the Service in front of the webhook")
    webhook.add_argument("--webhook-service-namespace", default=None, help="its namespace (and the Secret's)")
    webhook.add_argument("--webhook-secret-name", default=None, help="Secret holding the generated CA")
    webhook.add_argument(
        "--webhook-url-host", default=None, help="register https://HOST:PORT instead of the Service (local)"
    )
    webhook.add_argument(
        "--webhook-register", action=flag, default=None, help="create/patch the webhook configurations"
    )
    webhook.add_argument(
        "--webhook-namespace-selector", default=None, help="JSON namespaceSelector of the configurations"
    )
    webhook.add_argument(
        "--allow-private-urls",
        action=flag,
        default=None,
        help="accept tuning input URLs on private/loopback addresses (local mode)",
    )
    parser.set_defaults(func=run)


def parse_controllers(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CONTROLLERS]
    if unknown:
        raise ValueError(f"unknown controller(s) {', '.join(unknown)}; choose from {', '.join(CONTROLLERS)}")
    return list(dict.fromkeys(names))


def _given(args: argparse.Namespace, mapping: dict[str, str]) -> dict[str, Any]:
    """Settings fields for the flags actually given (the rest come from the environment)."""
    return {field: getattr(args, dest) for dest, field in mapping.items() if getattr(args, dest) is not None}


def manager_settings(args: argparse.Namespace) -> Any:
    from kaito.controllers.settings import ManagerSettings

    return ManagerSettings(
        **_given(
            args,
            {
                "kubeconfig": "kubeconfig",
                "context": "context",
                "leader_elect": "leader_elect",
                "lease_namespace": "lease_namespace",
                "lease_name": "lease_name",
                "identity": "identity",
                "health_address": "bind_address",
                "shutdown_timeout": "shutdown_timeout",
                "log_level": "log_level",
            },
        )
    )


def webhook_settings(args: argparse.Namespace) -> Any:
    from kaito.webhook.settings import WebhookSettings

    given = _given(
        args,
        {
            "webhook_host": "host",
            "webhook_port": "port",
            "webhook_cert_dir": "cert_dir",
            "webhook_service_name": "service_name",
            "webhook_service_namespace": "service_namespace",
            "webhook_secret_name": "secret_name",
            "webhook_url_host": "url_host",
            "webhook_register": "register_configs",
            "allow_private_urls": "allow_private_urls",
        },
    )
    if args.webhook_namespace_selector is not None:
        given["namespace_selector"] = json.loads(args.webhook_namespace_selector)
    return WebhookSettings(**given)


def build_setups(args: argparse.Namespace, controllers: Sequence[str]) -> list[Any]:
    """The ControllerSetups for the chosen controllers, each configured from its flags and environment."""
    setups: list[Any] = []
    if "workspace" in controllers:
        from kaito.reconcilers import WorkspaceSettings, WorkspaceSetup

        overrides = _given(args, {"inference_image": "inference_image", "tuning_image": "tuning_image"})
        setups.append(WorkspaceSetup(WorkspaceSettings(**overrides)))
    if "provisioner" in controllers:
        from kaito.provisioner.settings import settings_from_args
        from kaito.provisioner.setup import setup_provisioner

        setups.append(setup_provisioner(settings_from_args(args)))
    return setups


def run(args: argparse.Namespace) -> int:
    try:
        controllers = parse_controllers(args.controllers)
        settings = manager_settings(args)
        webhook = webhook_settings(args) if args.webhook else None
        setups = build_setups(args, controllers)
    except (ValueError, ValidationError) as exc:  # pydantic's ValidationError is a ValueError too
        print(f"kaito operator: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, json=args.log_format == "json")
    return asyncio.run(operate(settings, setups, webhook))


async def operate(settings: Any, setups: Sequence[Any], webhook: Any | None) -> int:
    """Run the manager and, beside it on every replica, the webhook; stop both on SIGTERM or failure."""
    import structlog

    from kaito.controllers.client import KubeClient
    from kaito.controllers.manager import EXIT_FAILED, Manager, load_api_client
    from kaito.webhook import WebhookComponent

    log = structlog.get_logger("kaito.operator")
    stop = asyncio.Event()
    _stop_on_signals(stop)  # until the manager installs its own handlers (they set the same event)
    manager = Manager(settings, setups)
    component: WebhookComponent | None = None
    api_client = None
    try:
        if webhook is not None:
            api_client = await load_api_client(settings)
            component = WebhookComponent(webhook, KubeClient(api_client, field_manager="kaito-webhook"))
            try:
                await component.start()
            except Exception as exc:
                log.error("the admission webhook could not start", error=repr(exc))
                return EXIT_FAILED
        return await manager.run(stop)
    finally:
        if component is not None:
            await component.stop()
        if api_client is not None:
            await api_client.close()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
