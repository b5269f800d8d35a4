# The inference image (KAITO_INFERENCE_IMAGE): `kaito serve` on vLLM, plus `kaito weights` for the init
# container. The base's tag is the vLLM version pyproject's `serving` extra pins.
#   docker build -f docker/serve.Dockerfile -t ghcr.io/kaito-py/kaito-serve:0.1.0 .
ARG VLLM_IMAGE=vllm/vllm-openai:v0.32.0

FROM ${VLLM_IMAGE}
WORKDIR /opt/kaito-src
COPY pyproject.toml README.md ./
COPY src ./src
# Pin the base image's torch and vLLM so installing kaito never replaces the CUDA builds it ships.
RUN { python3 -m pip list --format=freeze | grep -iE '^(torch|vllm)==' || true; } > /tmp/keep.txt \
    && python3 -m pip install --no-cache-dir --constraint /tmp/keep.txt ".[serving]" \
    && rm -rf /opt/kaito-src /tmp/keep.txt \
    && mkdir -p /home/kaito \
    && chown 65532:65532 /home/kaito
WORKDIR /home/kaito
# vLLM and torch keep compile caches under $HOME; weights go to HF_HOME, which the pod sets.
ENV HOME=/home/kaito \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["kaito", "serve"]
