"""The validating and defaulting admission webhook for Workspaces."""
