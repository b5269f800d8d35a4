"""kaito: a Kubernetes operator for GPU-sized LLM inference and fine-tuning."""

__version__ = "0.1.0"
