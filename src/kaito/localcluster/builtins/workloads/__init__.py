"""Workload controllers: Deployment, ReplicaSet, StatefulSet and Job, as kube-controller-manager runs them."""
