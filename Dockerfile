# Falconet image: one image, the role is the command (collector | worker | start).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY outputs ./outputs
COPY web ./web
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
# The collector's spool (spool.dir: data/spool) lives here; mount a volume on it.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 2801
ENTRYPOINT ["node", "bin/falconet.js"]
CMD ["start"]
