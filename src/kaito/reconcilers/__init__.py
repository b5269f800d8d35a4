"""The Workspace reconciler: nodes, NodeClaims, inference workloads, tuning jobs and status."""
