# The kaito operator (controllers and admission webhook), deploy/'s image:
#   docker build -f docker/operator.Dockerfile -t ghcr.io/kaito-py/kaito:0.1.0 .
# Only the core dependencies: no torch, vLLM or other ML extras.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/kaito \
    && /opt/kaito/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/kaito/bin/pip install --no-cache-dir .

FROM ${PYTHON_IMAGE}
COPY --from=build /opt/kaito /opt/kaito
ENV PATH=/opt/kaito/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Distroless' nonroot uid, matching runAsUser in deploy/base/deployment.yaml.
USER 65532:65532
ENTRYPOINT ["kaito", "operator"]
