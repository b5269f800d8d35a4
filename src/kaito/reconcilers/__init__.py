"""The Workspace reconciler: validate, size, place on GPU nodes, run inference or tuning, report status."""

from kaito.reconcilers.reconciler import Caches, WorkspaceReconciler
from kaito.reconcilers.settings import WorkspaceSettings
from kaito.reconcilers.setup import WorkspaceSetup

__all__ = ["Caches", "WorkspaceReconciler", "WorkspaceSettings", "WorkspaceSetup"]
