# syntax=docker/dockerfile:1
# The gateway image: Bun (the binary only) + the production dependencies + the sources.
#
# Bun comes from the `bun` npm package, a devDependency pinned by package-lock.json: the build
# stage installs everything (`npm ci` runs bun's postinstall, which puts the binary for this
# platform at node_modules/bun/bin/bun.exe), keeps that binary, then prunes the dev dependencies
# and the optional ones (uWebSockets.js serves only the Node build, not this Bun image).
# The runtime stage needs neither Node nor npm.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && install -m 0755 node_modules/bun/bin/bun.exe /usr/local/bin/bun \
 && /usr/local/bin/bun --version \
 && npm prune --omit=dev --omit=optional --no-audit --no-fund

FROM debian:bookworm-slim
RUN groupadd --gid 1000 gateway \
 && useradd --uid 1000 --gid 1000 --no-create-home --shell /usr/sbin/nologin gateway \
 && mkdir -p /run/gateway /var/lib/gateway/journal \
 && chown gateway:gateway /run/gateway /var/lib/gateway /var/lib/gateway/journal
COPY --from=build /usr/local/bin/bun /usr/local/bin/bun
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
COPY deploy/gateway-entrypoint.sh /usr/local/bin/gateway-entrypoint
ENV NODE_ENV=production
USER gateway
# Listens on SOCKET_PATH (a unix socket in a volume shared with the load balancer) or on PORT;
# journals to JOURNAL_DIR (a volume of its own per instance, see docker-compose.yml).
ENV JOURNAL_DIR=/var/lib/gateway/journal
EXPOSE 9999
ENTRYPOINT ["/usr/local/bin/gateway-entrypoint"]
CMD ["bun", "src/gateway/main.ts"]
