"""A generic controller runtime on kubernetes-asyncio.

Informers, cache and indexes, workqueue, controllers, client helpers, events, leader election, manager.
"""

from kaito.controllers.cache import Store
from kaito.controllers.client import KubeClient, PatchType
from kaito.controllers.clock import Clock, FakeClock, RealClock
from kaito.controllers.controller import Controller, Request, Result, TerminalError
from kaito.controllers.errors import ApiError, ConflictError, GoneError, NotFoundError
from kaito.controllers.events import EventRecorder
from kaito.controllers.factory import InformerFactory
from kaito.controllers.handlers import enqueue_by_labels, enqueue_owner, enqueue_self
from kaito.controllers.informer import EventHandler, Informer
from kaito.controllers.leaderelection import LeaderElectionConfig, LeaderElector, LeadershipLost
from kaito.controllers.manager import ControllerSetup, Manager, run_manager
from kaito.controllers.objects import FrozenDict, Obj, ObjectKey, thaw
from kaito.controllers.predicates import Predicate
from kaito.controllers.resource import Resource
from kaito.controllers.settings import ManagerSettings
from kaito.controllers.workqueue import WorkQueue

__all__ = [
    "ApiError",
    "Clock",
    "ConflictError",
    "Controller",
    "ControllerSetup",
    "EventHandler",
    "EventRecorder",
    "FakeClock",
    "FrozenDict",
    "GoneError",
    "Informer",
    "InformerFactory",
    "KubeClient",
    "LeaderElectionConfig",
    "LeaderElector",
    "LeadershipLost",
    "Manager",
    "ManagerSettings",
    "NotFoundError",
    "Obj",
    "ObjectKey",
    "PatchType",
    "Predicate",
    "RealClock",
    "Request",
    "Resource",
    "Result",
    "Store",
    "TerminalError",
    "WorkQueue",
    "enqueue_by_labels",
    "enqueue_owner",
    "enqueue_self",
    "run_manager",
    "thaw",
]
