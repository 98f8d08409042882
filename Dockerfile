# 429chain: the proxy (and its web UI, when the checkout has one) in a slim, non-root image.
#
#   docker build -t 429chain .
#   docker run -p 3429:3429 -v "$PWD/config:/config" -v 429chain-data:/data \
#     -e GROQ_API_KEY 429chain
#
# Three stages: node builds web/ into src/chain429/web/dist (skipped when there is no
# web/package.json), Python builds the wheel, and the runtime installs only that wheel.
# The bases are build ARGs so a locally built base can stand in (see scripts/container-test).
ARG BASE_IMAGE=python:3.12-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS ui
WORKDIR /src
COPY . .
RUN mkdir -p src/chain429/web/dist \
 && if [ -f web/package.json ]; then \
      cd web && npm ci --no-audit --no-fund && npm run build; \
    else \
      echo "no web/package.json: building the image without the web UI"; \
    fi

FROM ${BASE_IMAGE} AS wheel
WORKDIR /src
COPY . .
COPY --from=ui /src/src/chain429/web/dist/ src/chain429/web/dist/
# pip builds the wheel with the backend pyproject.toml names (hatchling), in isolation.
RUN python3 -m venv /tmp/pip \
 && /tmp/pip/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
 && rm -rf /tmp/pip

FROM ${BASE_IMAGE}
COPY --from=wheel /dist/ /tmp/dist/
RUN python3 -m venv /opt/429chain \
 && /opt/429chain/bin/pip install --no-cache-dir /tmp/dist/*.whl \
 && rm -rf /tmp/dist \
 && useradd --uid 10001 --user-group --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin chain429 \
 && mkdir -p /config /data \
 && chown chain429:chain429 /config /data
ENV PATH=/opt/429chain/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# From / the CLI's default config is ./config/config.yaml = /config/config.yaml (written from the
# example on the first start when the volume is empty), and the example's ./data/... is /data.
WORKDIR /
USER chain429
VOLUME ["/data"]
EXPOSE 3429
# The port inside the container is always 3429 (map it to any host port); this check needs
# nothing but the package itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["429chain", "health", "--url", "http://127.0.0.1:3429/health"]
ENTRYPOINT ["429chain"]
# 0.0.0.0 inside the container: the CLI refuses it unless the config has settings.api_keys.
CMD ["serve", "--host", "0.0.0.0", "--port", "3429"]
