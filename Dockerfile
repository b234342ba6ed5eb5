# syntax=docker/dockerfile:1
# loopwatch as an always-on service: `docker compose up` runs `loopwatch worker`.
# Any other command works too: `docker run --rm loopwatch replay --format json /logs`.

# Build stage: install the package and its runtime dependencies into a virtualenv, so the
# final image carries no pip cache, no build backend and no source tree.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# The runtime lock (the package's dependencies, its `broker` extra and setuptools to build it),
# every file checked against its sha256: the same versions `make demo` installs. Its own layer,
# so a change to the source alone reuses it.
COPY requirements/runtime.txt ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.txt
# Only what the build reads: pyproject names README.md as the readme and ships topologies/ as
# data files (share/loopwatch/topologies), which the built-in topologies are found from.
COPY pyproject.toml README.md ./
COPY topologies ./topologies
COPY loopwatch ./loopwatch
# A regular (non-editable) install of loopwatch alone, with the locked setuptools: every
# dependency came from the lock above, nothing is resolved or fetched here.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation .
# The lock still satisfies what pyproject.toml asks for.
RUN /opt/venv/bin/pip check

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOOPWATCH_WEB_HOST=0.0.0.0 \
    LOOPWATCH_DATA_DIR=/var/lib/loopwatch
# The venv's interpreter links to /usr/local/bin/python3.11, the same path in both stages.
COPY --from=build /opt/venv /opt/venv
# LOOPWATCH_WEB_HOST above: loopwatch listens on loopback by default, which inside a container
# would leave the exposed port unreachable. LOOPWATCH_DATA_DIR (Faust's data, the actions
# ledger) is the home of the unprivileged user the service runs as, so a named volume mounted
# there starts as a copy of it, owned by that user and writable.
RUN useradd --system --create-home --home-dir /var/lib/loopwatch --uid 10001 loopwatch
USER loopwatch
WORKDIR /var/lib/loopwatch
# Faust's web server: /health for probes, the loop views.
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:' + os.environ.get('LOOPWATCH_WEB_PORT', '6066') + '/health', timeout=4)"]
ENTRYPOINT ["loopwatch"]
CMD ["worker"]
