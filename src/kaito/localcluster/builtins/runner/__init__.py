"""The local pod runner: a kubelet for every managed node, running mapped images as real processes."""
