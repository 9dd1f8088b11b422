# syntax=docker/dockerfile:1
# The bikecast prediction API. Only the serving dependencies go in (the project's core
# `dependencies`, installed from uv.lock: no dvc, evidently, pandera, scikit-learn, matplotlib,
# nor pandas, XGBoost and its scipy: the API runs the model's ONNX export with ONNX Runtime on
# numpy), plus the model DVC produced.
# Build from a checkout where `dvc pull` (or `dvc repro`) has written models/ and metrics/:
#
#   docker build \
#     --build-arg GIT_SHA="$(git rev-parse HEAD)" \
#     --build-arg MODEL_VERSION="$(python3 -c 'import json; print(json.load(open("models/model.json"))["version"])')" \
#     --build-arg SOURCE_URL="https://github.com/OWNER/bikecast" \
#     -t bikecast:latest .
#   docker run --rm -p 8000:8000 bikecast:latest

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: resolve the serving dependencies into /opt/venv --------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install "uv==${UV_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
# Dependencies first, in their own layer: rebuilt only when uv.lock changes.
# --no-dev drops the dev group (which pulls the `pipeline` extra); no extras are selected.
RUN uv sync --locked --no-dev --no-install-project --no-editable
COPY README.md LICENSE ./
COPY src ./src
RUN uv sync --locked --no-dev --no-editable
# Installed by the lock, never imported by serving (scripts/container_check.py fails on any such
# distribution): typer's rich output (rich, pygments, markdown-it-py, mdurl; TYPER_USE_RICH=0
# below makes typer use click's own), and what ONNX Runtime's tools and ONNX backend need,
# not its InferenceSession (protobuf, flatbuffers, packaging).
RUN uv pip uninstall --python /opt/venv/bin/python \
    rich pygments markdown-it-py mdurl protobuf flatbuffers packaging
# What the server never loads (scripts/container_check.py checks that the image still
# predicts what the pipeline does):
# - the packages' own test suites;
# - ONNX Runtime's C-API library (its Python binding carries the runtime itself) and its
#   offline tools (model conversion, quantization, transformer optimisation);
# - numpy's build tools (distutils, f2py);
# - the holiday names' translations but en_US, the catalogue `holidays` opens for the US;
# - botocore's models of the ~400 AWS services but the two the prediction log calls: S3 (the
#   log) and STS (a pod's or workflow's web-identity role).
RUN cd /opt/venv/lib/python3*/site-packages \
    && find . -depth -type d -name tests -exec rm -rf {} + \
    && rm -rf onnxruntime/capi/libonnxruntime.so.* \
       onnxruntime/tools onnxruntime/quantization onnxruntime/transformers \
       numpy/distutils numpy/f2py /opt/venv/bin/f2py /opt/venv/bin/onnxruntime_test \
    && find holidays/locale -mindepth 1 -maxdepth 1 ! -name en_US -exec rm -rf {} + \
    && find botocore/data -mindepth 1 -maxdepth 1 -type d ! -name s3 ! -name sts -exec rm -rf {} +

# --- runtime: the venv, the model and its metadata, a non-root user -------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG GIT_SHA=unknown
ARG MODEL_VERSION=unknown
ARG SOURCE_URL=https://github.com/OWNER/bikecast
LABEL org.opencontainers.image.title="bikecast" \
      org.opencontainers.image.description="Hourly bike-rental forecasts for Washington DC (FastAPI)" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.version="${MODEL_VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      io.github.bikecast.model.version="${MODEL_VERSION}"
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BIKECAST_MODEL_PATH=/app/models/model.onnx \
    BIKECAST_CARD_PATH=/app/models/model.json \
    BIKECAST_METRICS_PATH=/app/metrics/evaluate.json \
    BIKECAST_PREDICTION_LOG=/tmp/bikecast/predictions \
    BIKECAST_GIT_SHA=${GIT_SHA} \
    TYPER_USE_RICH=0
RUN groupadd --system --gid 10001 bikecast \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin bikecast
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root and read-only for the service user: the model cannot be changed at run time.
COPY models/model.onnx models/model.json ./models/
COPY metrics/evaluate.json ./metrics/
# No params.yaml: the service is configured by BIKECAST_* variables alone (serve/settings.py).
# Fail the build, not the deployment, on a corrupt model or a mislabelled image.
RUN python -c "import sys; from bikecast.ml.model import load_model; \
_, card = load_model('/app/models/model.onnx', '/app/models/model.json'); \
v = card.version; \
sys.exit(0 if '${MODEL_VERSION}' in ('unknown', v) else f'MODEL_VERSION ${MODEL_VERSION} != {v}')"
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["bikecast", "serve", "--host", "0.0.0.0", "--port", "8000"]
