"""The NodeClaim reconciler and the cloud providers (Azure AKS agent pools, local simulated nodes) behind it.

Entry point: `kaito.provisioner.setup.setup_provisioner(settings)` returns a ControllerSetup for the Manager;
settings (`kaito.provisioner.settings.ProvisionerSettings`) come from flags or the environment.
"""
