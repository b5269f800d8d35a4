"""A generic controller runtime on kubernetes-asyncio.

Informers, cache and indexes, workqueue, controllers, client helpers, events, leader election, manager.
"""
