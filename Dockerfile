# The egress-sentinel image: compiled TypeScript on Node 24 (the LTS line the tests run on).
# The image runs the CLI; the subcommand comes from CMD, compose's `command:` or Kubernetes' `args:`
# (test/deploy/container.test.ts runs each of them with `check` against the mounted config):
#   docker build -t ghcr.io/egress-sentinel/egress-sentinel:0.1.0 .
#   docker run --rm ghcr.io/egress-sentinel/egress-sentinel:0.1.0 check --config pipelines/compose.yaml --offline
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:24-slim
ENV NODE_ENV=production
# V8's old space at ~75% of the container's memory limit (768 MB for the 1 GiB of deploy/k8s/base), so
# the heap is collected before the container is killed and what V8 does not count (new space, code,
# Kafka fetch buffers, a restore's worker thread) has the rest. Without it V8 sizes the heap from
# what it sees as free and grows it while it can (bench:flood-state: 1,059 MB RSS with the default
# heap, 617 MB with a 512 MB limit, same alerts). Each manifest sets NODE_OPTIONS for its own limit.
ENV NODE_OPTIONS=--max-old-space-size=768
WORKDIR /app
# Only what runs: the compiled CLI, production dependencies, pipeline configs, dashboards and the
# deploy/ files a config may name (the seed's AuthorizationPolicy).
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/pipelines ./pipelines
COPY --from=build /app/dashboards ./dashboards
COPY --from=build /app/deploy/istio ./deploy/istio
# Dead letters and saved state: a volume in compose, an emptyDir in Kubernetes.
RUN mkdir -p /var/lib/egress-sentinel && chown node:node /var/lib/egress-sentinel
USER node
EXPOSE 9464
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["--help"]
