# Container image of the bridge.
#
#   docker build -t matrix-xmpp-bridge .
#   mkdir data && cp config.sample.yaml data/config.yaml    # then edit it (see below)
#   sudo chown -R 1000:1000 data                            # the bridge runs as the image's user "node" (uid 1000)
#   docker run --rm -v "$PWD/data:/data" matrix-xmpp-bridge \
#     -r -u http://BRIDGE_HOST:9000 -c /data/config.yaml -f /data/registration.yaml   # writes the registration
#   docker run -d --name matrix-xmpp-bridge -v "$PWD/data:/data" -p 9000:9000 -p 9001:9001 -p 9002:9002 matrix-xmpp-bridge
#
# docker-compose.yml runs it with Synapse, Prosody and Redis. Inside a container, set appservice.bindAddress,
# metrics.bindAddress and media.bindAddress to 0.0.0.0 in config.yaml: the defaults (127.0.0.1) would not be
# reachable through the published ports. 9000 is the appservice port (the homeserver must reach it; it also serves
# /live and /ready), 9001 serves /metrics, /health, /live and /ready, 9002 the Matrix files XMPP users fetch (put
# it behind your https reverse proxy). Secrets may come from the environment instead of the files: XMPP_PASSWORD,
# AS_TOKEN, HS_TOKEN (docs/configuration.md). `docker kill --signal HUP` reloads bridge.permissions and
# logging.level.

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
# appservice, metrics, media (the defaults of appservice.port, metrics.port and media.port)
EXPOSE 9000 9001 9002

# Ready when Redis, the component connection and the homeserver are up (GET /ready on the appservice listener,
# which is there with metrics off too). Another appservice.port: set HEALTHCHECK_URL. The image has no curl: Node
# asks. The start period covers the start-up checks, which come before the listeners open.
ENV HEALTHCHECK_URL=http://127.0.0.1:9000/ready
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL, { signal: AbortSignal.timeout(8000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Node runs as PID 1: the bridge installs its own SIGTERM/SIGINT (clean shutdown: puppets leave their MUCs) and SIGHUP
# (reload) handlers, so `docker stop` works without an init process. DEP0060 is a deprecation warning from a dependency.
# The Node flags are bin/matrix-xmpp-bridge's (a smaller young generation: see there).
ENTRYPOINT ["node", "--max-semi-space-size=4", "--optimize-for-size", "--disable-warning=DEP0060", "/app/dist/src/cli.js"]
CMD ["-c", "/data/config.yaml", "-f", "/data/registration.yaml"]
