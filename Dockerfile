# syntax=docker/dockerfile:1
# Multi-stage build of the sluice command (sidecar and tools). The runtime stage holds only the
# built JavaScript, production dependencies and the example models, and runs as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.base.json ./
COPY proto/package.json proto/
COPY server/package.json server/
COPY clients/client/package.json clients/client/
COPY clients/stack/package.json clients/stack/
COPY clients/cli/package.json clients/cli/
COPY consumer/package.json consumer/
RUN npm ci --ignore-scripts
COPY proto proto
COPY server server
COPY clients clients
COPY consumer consumer
RUN npx tsc -b && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/.npmrc ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/proto/package.json proto/
COPY --from=build /app/proto/dist proto/dist
COPY --from=build /app/server/package.json server/
COPY --from=build /app/server/dist server/dist
COPY --from=build /app/clients/client/package.json clients/client/
COPY --from=build /app/clients/client/dist clients/client/dist
COPY --from=build /app/consumer/package.json consumer/
COPY --from=build /app/consumer/dist consumer/dist
COPY --from=build /app/clients/stack/package.json clients/stack/
COPY --from=build /app/clients/stack/dist clients/stack/dist
COPY --from=build /app/clients/stack/kafka clients/stack/kafka
COPY --from=build /app/clients/cli/package.json clients/cli/
COPY --from=build /app/clients/cli/dist clients/cli/dist
COPY examples/models /models
USER node
EXPOSE 8001 8002
ENTRYPOINT ["node", "/app/clients/cli/dist/main.js"]
CMD ["serve", "--model-repository", "/models", "--host", "0.0.0.0"]
