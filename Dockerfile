# syntax=docker/dockerfile:1
# The platform's one image: `nautilus-streams` is the entrypoint, the command picks the role
# (worker, feed, api, topics apply, db migrate, ...). Used by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# CPU build of PyTorch by default; for CUDA build with
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG TORCH_SPEC=torch
RUN pip install --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p streams processors api \
    && pip install . \
    && pip uninstall -y nautilus-streams

COPY streams ./streams
COPY processors ./processors
COPY api ./api
COPY topics.yaml factors.yaml fred_series.yaml ./
# The sources now live in site-packages; keep only the catalogs here.
RUN pip install --no-deps . && rm -rf build *.egg-info streams processors api

RUN useradd --create-home --uid 10001 nautilus \
    && mkdir -p /var/lib/nautilus \
    && chown nautilus:nautilus /var/lib/nautilus
USER nautilus

# The package is installed into site-packages, so point at the catalogs copied above;
# `up`-style local state goes to a directory the non-root user owns.
ENV NAUTILUS_TOPICS_FILE=/app/topics.yaml \
    NAUTILUS_FACTORS__CATALOG=/app/factors.yaml \
    NAUTILUS_FRED_SERIES_FILE=/app/fred_series.yaml \
    NAUTILUS_STATE_DIR=/var/lib/nautilus

EXPOSE 8000
ENTRYPOINT ["nautilus-streams"]
CMD ["--help"]
