# The pipeline image used by docker-compose.yml: compiled TypeScript on Node 20.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
# Everything not in .dockerignore: src, bench, pipelines, dashboards (some may not exist yet).
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app ./
USER node
EXPOSE 9464
ENTRYPOINT ["node", "dist/src/cli/main.js", "run", "--config", "pipelines/production.yaml"]
