"""OCI registry client: distribution API pull/push with dockerconfigjson Basic/Bearer auth.

Shared by serving (adapter pulls) and tuning (adapter pushes); imports nothing of kaito but `kaito.api`.
"""
