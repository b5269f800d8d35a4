"""The NodeClaim reconciler and the cloud providers (Azure AKS agent pools, local) behind it."""
