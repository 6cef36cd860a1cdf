# Container image of the bridge.
#
#   docker build -t matrix-xmpp-bridge .
#   mkdir data && cp config.sample.yaml data/config.yaml    # then edit it (see below)
#   sudo chown -R 1000:1000 data                            # the bridge runs as the image's user "node" (uid 1000)
#   docker run --rm -v "$PWD/data:/data" matrix-xmpp-bridge \
#     -r -u http://BRIDGE_HOST:9000 -c /data/config.yaml -f /data/registration.yaml   # writes the registration
#   docker run -d --name matrix-xmpp-bridge -v "$PWD/data:/data" -p 9000:9000 -p 9001:9001 matrix-xmpp-bridge
#
# Inside a container, set appservice.bindAddress and metrics.bindAddress to 0.0.0.0 in config.yaml: the defaults
# (127.0.0.1) would not be reachable through the published ports. 9000 is the appservice port (the homeserver
# must reach it), 9001 serves /health and /metrics.

# ---- build: compile TypeScript, then drop the dev dependencies -------------------------------------------------
FROM node:24-bookworm-slim AS build
WORKDIR /app

# vendor/ comes before `npm ci`: @matrix-org/matrix-sdk-crypto-nodejs is a `file:` dependency on the stub in
# vendor/matrix-sdk-crypto-nodejs-stub, which npm installs as a symlink into vendor/. Sources come after, so that
# editing them does not invalidate the cached dependency layer.
COPY package.json package-lock.json ./
COPY vendor ./vendor
RUN npm ci --no-audit --no-fund

# Only src/ is compiled: tsconfig.json also includes test/, which is not copied (rootDir "." keeps the output in
# dist/src either way).
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# ---- runtime -----------------------------------------------------------------------------------------------------
FROM node:24-bookworm-slim
LABEL org.opencontainers.image.title="matrix-xmpp-bridge" \
      org.opencontainers.image.description="A bidirectional bridge between Matrix and XMPP" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app

# Owned by root and so read-only for the user the bridge runs as. The relative symlink
# node_modules/@matrix-org/matrix-sdk-crypto-nodejs -> ../../vendor/... needs vendor/ next to node_modules/;
# dist/src/version.js reads ../../package.json; bin/matrix-xmpp-bridge execs scripts/with-node.sh (which finds this
# image's Node 24), so the bin script works too, e.g. with --entrypoint.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/vendor ./vendor
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY scripts/with-node.sh ./scripts/with-node.sh
COPY config.sample.yaml ./

# /data holds config.yaml and registration.yaml; created before VOLUME so that a new named volume starts out
# owned by the bridge's user (`-r` writes the registration there).
RUN mkdir /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 9000 9001

# Node runs as PID 1: the bridge installs its own SIGTERM/SIGINT handlers (clean shutdown: puppets leave their
# MUCs), so `docker stop` works without an init process. DEP0060 is a deprecation warning from a dependency.
ENTRYPOINT ["node", "--disable-warning=DEP0060", "/app/dist/src/cli.js"]
CMD ["-c", "/data/config.yaml", "-f", "/data/registration.yaml"]
