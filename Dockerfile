# syntax=docker/dockerfile:1
# Multi-stage build of the sluice command: the sidecar (`serve`, the default command), the pipeline
# consumer (`consume`), the load generator (`produce`) and the client tools. The runtime stage holds
# only the built JavaScript, production dependencies, the example models (/models) and the example
# pipelines (/app/examples/pipelines), and runs as the non-root `node` user.
#   docker build -t sluice .
#   docker run --rm -p 127.0.0.1:8001:8001 sluice                     # the sidecar on the example models
#   docker run --rm sluice consume --config /app/examples/pipelines/fraud.yaml --brokers kafka:9092 …
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.base.json ./
COPY kit/package.json kit/
COPY proto/package.json proto/
COPY server/package.json server/
COPY consumer/package.json consumer/
COPY testing/package.json testing/
COPY clients/client/package.json clients/client/
COPY clients/demo/package.json clients/demo/
COPY clients/cli/package.json clients/cli/
# --ignore-scripts: `prepare` would build before the sources are here; onnxruntime-node's CPU binaries
# ship inside its package, so its postinstall (GPU add-ons) is not needed.
RUN npm ci --ignore-scripts
COPY kit kit
COPY proto proto
COPY server server
COPY consumer consumer
COPY testing testing
COPY clients clients
# npm keeps a dependency inside a workspace (e.g. clients/cli/node_modules/@opentelemetry/sdk-node)
# when its version differs from the root's, so each workspace's node_modules is copied when present;
# without it the runtime stage would fail to load that dependency only when tracing is turned on.
# The consumer's status page (consumer/status-page: HTML, script, styles) is read beside its dist.
RUN npx tsc -b && npm prune --omit=dev --ignore-scripts \
  && mkdir /out && cp -a package.json .npmrc node_modules /out/ \
  && for ws in kit proto server consumer testing clients/client clients/demo clients/cli; do \
       mkdir -p "/out/$ws" && cp -a "$ws/package.json" "$ws/dist" "/out/$ws/" \
       && if [ -d "$ws/node_modules" ]; then cp -a "$ws/node_modules" "/out/$ws/"; fi; \
     done \
  && cp -a clients/cli/bin /out/clients/cli/ && cp -a testing/kafka /out/testing/ \
  && cp -a consumer/status-page /out/consumer/

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /out /app
COPY examples/models /models
COPY examples/pipelines /app/examples/pipelines
USER node
# 8001 gRPC (Open Inference Protocol, health, reflection), 8002 the sidecar's Prometheus /metrics.
EXPOSE 8001 8002
# The gRPC health service of the default command (`serve`). A container running `consume` or
# `produce` from this image has no sidecar on 127.0.0.1:8001: override or disable the check there
# (docker-compose.yml does).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/clients/cli/dist/main.js", "health", "--url", "127.0.0.1:8001", "--timeout", "3000"]
ENTRYPOINT ["node", "/app/clients/cli/dist/main.js"]
CMD ["serve", "--model-repository", "/models", "--host", "0.0.0.0"]
