# The approval-cdc image: the CLI runs its TypeScript through tsx (bin/approval-cdc.js), so there is
# no build step. One image serves the connector, its standby and the Feishu fake (docker-compose.yml).
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so source edits do not re-run the install. tsx is a runtime dependency.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY mappings ./mappings

USER node
EXPOSE 9187
ENTRYPOINT ["node", "bin/approval-cdc.js"]
CMD ["--help"]
