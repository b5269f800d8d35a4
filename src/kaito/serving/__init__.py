"""`kaito serve`: the process inside each inference pod (vLLM, adapters, legacy /chat)."""
