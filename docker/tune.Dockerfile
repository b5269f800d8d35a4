# The tuning image (KAITO_TUNING_IMAGE): `kaito tune` (LoRA/QLoRA with transformers, peft, bitsandbytes),
# also `kaito tune fetch` for the data init container. CUDA PyTorch comes with the base image.
#   docker build -f docker/tune.Dockerfile -t ghcr.io/kaito-py/kaito-tune:0.1.0 .
ARG PYTORCH_IMAGE=pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime

FROM ${PYTORCH_IMAGE}
WORKDIR /opt/kaito-src
COPY pyproject.toml README.md ./
COPY src ./src
# Pin the base image's torch so installing kaito never replaces its CUDA build.
RUN { python -m pip list --format=freeze | grep -iE '^torch==' || true; } > /tmp/keep.txt \
    && python -m pip install --no-cache-dir --constraint /tmp/keep.txt ".[tuning-gpu]" \
    && rm -rf /opt/kaito-src /tmp/keep.txt \
    && mkdir -p /home/kaito \
    && chown 65532:65532 /home/kaito
WORKDIR /home/kaito
ENV HOME=/home/kaito \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["kaito", "tune"]
