"""An embedded Kubernetes: API server, storage, built-in controllers, scheduler, local pod runner."""
