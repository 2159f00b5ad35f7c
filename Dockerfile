# cardforge in one container: the web server, its workers and (unless DATABASE_URL names an
# external server) an embedded PostgreSQL kept in the /data volume.
#
#   docker build -t cardforge .
#   docker run -p 8080:8080 -v cardforge-data:/data cardforge
#
# BASE_IMAGE is any Debian-based image with python3 and python3-venv (>= 3.11); the default
# is the usual one, and tools/container-base.sh builds a local stand-in where no registry is
# reachable.
ARG BASE_IMAGE=python:3.12-slim-bookworm

# ---- build: a virtualenv with cardforge and its dependencies, nothing else
FROM ${BASE_IMAGE} AS build
SHELL ["/bin/sh", "-eu", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src
COPY pyproject.toml README.md schema.sql ./
COPY server ./server
COPY handlers ./handlers
COPY web ./web
# pip and setuptools are only needed to install: removing them keeps the runtime image
# smaller and leaves no installer behind for anything that gets a shell in it.
RUN python3 -m venv /opt/cardforge \
 && /opt/cardforge/bin/pip install --no-compile . \
 && /opt/cardforge/bin/python -m compileall -q /opt/cardforge/lib \
 && /opt/cardforge/bin/pip uninstall -y pip setuptools

# ---- runtime
FROM ${BASE_IMAGE}
SHELL ["/bin/sh", "-eu", "-c"]
# A fixed uid/gid, so a host directory mounted at /data can be chowned to match.
RUN groupadd --system --gid 10001 cardforge \
 && useradd --system --uid 10001 --gid cardforge --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin cardforge \
 && mkdir -p /data \
 && chown cardforge:cardforge /data
COPY --from=build /opt/cardforge /opt/cardforge
ENV PATH=/opt/cardforge/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CARDFORGE_DATA_DIR=/data
# numeric, so an orchestrator can verify "runs as non-root" without reading /etc/passwd
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the venv's python asks /healthz. Exit 1 on anything but a 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/cardforge/bin/python", "-c", "import sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
# Exec form: the server is PID 1 of the container and receives SIGTERM itself, so the
# graceful shutdown (stop claiming, finish or hand back jobs, exit 0) runs on `docker stop`.
ENTRYPOINT ["/opt/cardforge/bin/cardforge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
