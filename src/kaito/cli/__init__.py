"""The `kaito` command: wires the rooms together."""
