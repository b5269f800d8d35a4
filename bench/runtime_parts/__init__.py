"""Pieces of bench/runtime.py: the operator processes it races and the cluster it races them on."""
