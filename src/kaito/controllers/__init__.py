"""A generic controller runtime on kubernetes-asyncio: informers, cache, workqueue, controllers, manager, leader election."""
