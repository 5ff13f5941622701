# syntax=docker/dockerfile:1
# gao-migrate: the CLI, worker and dashboard in one image. ENTRYPOINT is `gao-migrate`; pass the command
# (`worker`, `dashboard --host 0.0.0.0`, `enqueue up --glob ...`) as the container's arguments.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: dev dependencies, TypeScript, better-sqlite3's native module ----------------------------------
FROM ${NODE_IMAGE} AS build
# Toolchain for node-gyp, used when no prebuilt better-sqlite3 binary matches this platform.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here, and only better-sqlite3's install script
# is wanted (the same rule as package.json's allowScripts); it is run explicitly just after.
RUN npm ci --ignore-scripts --no-audit --no-fund \
  && npm rebuild better-sqlite3 \
  && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"
COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: production dependencies and dist only, as a non-root user -----------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    GAO_MIGRATE_ROOTS=/projects
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
# dist/sample (createSampleDatabase) builds sample databases from the baseline schema kept here.
COPY fixtures ./fixtures
# /projects is owned by `node`, so a fresh named volume mounted there (docker-compose.yml's `projects`) starts
# owned by it too. No VOLUME: it would give every container of this image an anonymous volume at /projects, the
# dashboard's too, which opens no database; mount one where databases are migrated (the compose file does for
# the workers; with `docker run`, `-v projects:/projects` or a bind mount).
RUN chmod 0755 bin/gao-migrate.js \
  && ln -s /app/bin/gao-migrate.js /usr/local/bin/gao-migrate \
  && mkdir -p /projects \
  && chown node:node /projects
# The application files stay owned by root: the `node` user (uid 1000) can run them but not change them.
USER node
EXPOSE 3000
ENTRYPOINT ["gao-migrate"]
CMD ["--help"]
