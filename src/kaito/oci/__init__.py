"""OCI registry client (distribution API pull/push, dockerconfigjson basic/bearer auth), shared by serving and tuning."""
