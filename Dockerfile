# The approval-cdc image: the CLI runs its TypeScript through tsx (bin/approval-cdc.js), so there is
# no build step. One image serves the connector, its standby and the Feishu fake (docker-compose.yml).
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so source edits do not re-run the install. tsx is a runtime dependency.
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY mappings ./mappings
COPY tsconfig.build.json ./
# Compiled code starts faster and uses less memory; the launcher runs it while it is fresh.
RUN npm run build && npm prune --omit=dev

USER node
# No V8 heap cap: the daemon's heap guard (APPROVAL_CDC_HEAP_TARGET_MB, default 64) keeps the heap
# near its target without turning a burst of large rows into an out-of-memory crash loop.
EXPOSE 9187
ENTRYPOINT ["node", "bin/approval-cdc.js"]
CMD ["--help"]
