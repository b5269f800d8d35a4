"""Wires the workspace reconciler into a Manager: its informers, the watches that map changes to Workspaces.

Everything is watch-driven: NodeClaims and kaito's own Nodes map back by their Workspace labels,
bring-your-own Nodes to every Workspace whose selector they match (only when readiness, GPUs or labels
change, so kubelet heartbeats cost nothing), namespaced children by their controller ownerReference, and
pods by their Workspace labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from kaito.api.constants import GROUP, LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE, WORKSPACE_KIND
from kaito.controllers.controller import Controller
from kaito.controllers.handlers import Mapper, enqueue_by_labels, enqueue_owner
from kaito.controllers.informer import Informer
from kaito.controllers.labels import selector_matches
from kaito.controllers.manager import Manager
from kaito.controllers.objects import Obj, ObjectKey, key_of, labels_of, raw
from kaito.controllers.predicates import Predicate, ignore_status_only, resource_version_changed
from kaito.controllers.resource import CONFIGMAPS, JOBS, NODES, PODS, SERVICES, STATEFULSETS
from kaito.reconcilers.names import NODECLAIMS, WORKSPACES
from kaito.reconcilers.nodes import node_digest
from kaito.reconcilers.reconciler import Caches, WorkspaceReconciler
from kaito.reconcilers.settings import WorkspaceSettings

COMPONENT: Final = "kaito-workspace"
CONTROLLER_NAME: Final = "workspace"
# Children carry this label, so their informers cache only kaito's objects (an existence selector).
_KAITO_CHILDREN: Final = LABEL_WORKSPACE

_NODE_CHANGED: Final = Predicate(update=lambda old, new: node_digest(raw(old)) != node_digest(raw(new)))


def nodes_to_workspaces(workspaces: Informer) -> Mapper:
    """Maps a Node to the Workspaces it may serve: its own (by labels) and every selector it matches."""

    def mapper(node: Obj) -> Iterable[ObjectKey]:
        labels = labels_of(node)
        keys: set[ObjectKey] = set()
        name = labels.get(LABEL_WORKSPACE)
        if name:
            keys.add(ObjectKey(labels.get(LABEL_WORKSPACE_NAMESPACE, ""), name))
        for workspace in workspaces.store.objects():
            selector = (workspace.get("resource") or {}).get("labelSelector")
            if selector is not None and selector_matches(selector, labels):
                keys.add(key_of(workspace))
        return keys

    return mapper


class WorkspaceSetup:
    """A ControllerSetup: registers the Workspace controller (`kaito operator --controllers=workspace`)."""

    name = CONTROLLER_NAME

    def __init__(self, settings: WorkspaceSettings | None = None) -> None:
        self.settings = settings or WorkspaceSettings()
        self.reconciler: WorkspaceReconciler | None = None
        self.controller: Controller | None = None

    async def setup(self, manager: Manager) -> None:
        informers = manager.informers
        caches = Caches(
            workspaces=informers.informer_for(WORKSPACES),
            nodeclaims=informers.informer_for(NODECLAIMS),
            nodes=informers.informer_for(NODES),
            pods=informers.informer_for(PODS, label_selector=_KAITO_CHILDREN),
            services=informers.informer_for(SERVICES, label_selector=_KAITO_CHILDREN),
            configmaps=informers.informer_for(CONFIGMAPS, label_selector=_KAITO_CHILDREN),
            statefulsets=informers.informer_for(STATEFULSETS, label_selector=_KAITO_CHILDREN),
            jobs=informers.informer_for(JOBS, label_selector=_KAITO_CHILDREN),
        )
        recorder = manager.recorder(COMPONENT)
        self.reconciler = WorkspaceReconciler(manager.client, caches, self.settings, recorder)
        controller = Controller(
            CONTROLLER_NAME,
            self.reconciler.reconcile,
            workers=self.settings.workspace_workers,
            recorder=recorder,
        )
        owner = enqueue_owner(WORKSPACE_KIND, GROUP)
        changed = resource_version_changed()
        # Last, so an echo is consumed only by an event the other predicates let through.
        echoes = self.reconciler.echoes
        controller.for_(caches.workspaces, ignore_status_only(), echoes.predicate(WORKSPACES))
        controller.watch(
            caches.nodeclaims,
            enqueue_by_labels(LABEL_WORKSPACE, LABEL_WORKSPACE_NAMESPACE),
            changed,
            echoes.predicate(NODECLAIMS),
        )
        controller.watch(caches.nodes, nodes_to_workspaces(caches.workspaces), _NODE_CHANGED)
        controller.watch(caches.pods, enqueue_by_labels(LABEL_WORKSPACE), changed)
        for informer, resource in (
            (caches.services, SERVICES),
            (caches.configmaps, CONFIGMAPS),
            (caches.statefulsets, STATEFULSETS),
            (caches.jobs, JOBS),
        ):
            controller.watch(informer, owner, changed, echoes.predicate(resource))
        self.controller = manager.add_controller(controller)
