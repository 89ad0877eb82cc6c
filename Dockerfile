# One image for the services (docker-compose.kafka.yml picks the command of each).
# The dashboard's Chart.js comes from the npm registry, pinned by gateway/dashboard/package-lock.json.
FROM node:20-slim AS dashboard
WORKDIR /build
COPY gateway/dashboard/package.json gateway/dashboard/package-lock.json ./
RUN npm ci --no-audit --no-fund --silent

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contract contract
COPY streams streams
COPY ingest ingest
COPY sink sink
COPY gateway gateway
COPY webhooks webhooks
# the command line's production part: .dockerignore leaves its development tools out
COPY tickstream tickstream
COPY --from=dashboard /build/node_modules/chart.js/dist/chart.umd.js gateway/static/vendor/chart.umd.js
RUN pip install --no-cache-dir . && useradd --system --uid 10001 tickstream \
    && install -d -o tickstream /var/lib/tickstream
USER tickstream
ENV PYTHONUNBUFFERED=1 WORKER_DATA_DIR=/tmp/tickstream-worker
