#!/usr/bin/env bash
# Stand-in base images for machines that reach no image registry (only Debian's and the language registries).
#
# The Dockerfiles name the official bases (python:3.11-slim, node:20-slim, nginxinc/nginx-unprivileged:1.27-alpine)
# and stay exactly what users with Docker Hub need. Where those cannot be pulled, this script builds images under the
# same names from Debian packages: debootstrap makes a minimal root filesystem, `docker import` turns it into an image,
# and a short build on top installs what the official image provides and Herald's Dockerfiles use.
#
#   deploy/docker/base-images.sh          build whatever is missing (an image that exists, pulled or built, is kept)
#   deploy/docker/base-images.sh --force  rebuild all three
#
# Needs root (debootstrap), a running Docker engine and Debian's mirror. The host's CA bundle goes into the stand-ins,
# so pip and npm inside a build trust what the host trusts (a TLS-inspecting proxy included).
set -euo pipefail

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
WORK=${TMPDIR:-/tmp}/herald-base-images
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

PYTHON_IMAGE=python:3.11-slim
NODE_IMAGE=node:20-slim
NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine

# Stand-ins carry the hash of this script as a label, so a changed recipe rebuilds them; an image without the label
# (pulled from a registry) is kept.
RECIPE=$(sha256sum "$0" | cut -c1-16)
have() {
  local label
  [ "$FORCE" = 0 ] || return 1
  label=$(docker image inspect -f '{{index .Config.Labels "herald.base-recipe"}}' "$1" 2>/dev/null) || return 1
  case "$label" in "" | "<no value>" | "$RECIPE") return 0 ;; *) return 1 ;; esac
}

# A Debian minbase root filesystem as an image (cached under its own name).
rootfs_image() { # suite image
  local suite=$1 image=$2
  if have "$image"; then return; fi
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  local root="$WORK/$suite"
  rm -rf "$root" && mkdir -p "$root"
  echo "debootstrap $suite → $image"
  debootstrap --variant=minbase "$suite" "$root" "$MIRROR" >"$WORK/$suite.log" 2>&1 \
    || { tail -20 "$WORK/$suite.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$image" >/dev/null
  rm -rf "$root"
}

# Build $image from the Dockerfile text on stdin, with the CA bundle in the context.
build_from() { # image
  local image=$1 ctx
  ctx=$(mktemp -d)
  cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
  cat >"$ctx/Dockerfile"
  echo "build $image"
  docker build --network host -q --label "herald.base-recipe=$RECIPE" -t "$image" "$ctx" >/dev/null
  rm -rf "$ctx"
}

mkdir -p "$WORK"
rootfs_image bookworm herald-debian:bookworm
rootfs_image trixie herald-debian:trixie

# python:3.11-slim: Debian 12's Python 3.11 as `python`, with venv and pip, like the official image's PATH.
have "$PYTHON_IMAGE" || build_from "$PYTHON_IMAGE" <<'EOF'
FROM herald-debian:bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv python3-pip python-is-python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt LANG=C.UTF-8
CMD ["python3"]
EOF

# node:20-slim: Debian 13 ships Node.js 20.19 and npm.
have "$NODE_IMAGE" || build_from "$NODE_IMAGE" <<'EOF'
FROM herald-debian:trixie
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt LANG=C.UTF-8
CMD ["node"]
EOF

# nginxinc/nginx-unprivileged: nginx as uid 101 on unprivileged ports, pid and temp files under /tmp, the site in
# /etc/nginx/conf.d/default.conf and the document root /usr/share/nginx/html, as the official image lays them out; its
# entrypoint runs the executable /docker-entrypoint.d/*.sh scripts before nginx, as the official one does.
have "$NGINX_IMAGE" || build_from "$NGINX_IMAGE" <<'EOF'
FROM herald-debian:bookworm
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light wget \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d/* \
 && (getent group nginx || groupadd --system --gid 101 nginx) \
 && (id nginx 2>/dev/null || useradd --system --uid 101 --gid nginx --no-create-home --shell /usr/sbin/nologin nginx) \
 && mkdir -p /usr/share/nginx/html /var/cache/nginx \
 && printf '%s\n' \
      'worker_processes auto;' 'pid /tmp/nginx.pid;' 'error_log /dev/stderr warn;' \
      'events { worker_connections 1024; }' \
      'http {' '  include /etc/nginx/mime.types;' '  default_type application/octet-stream;' \
      '  access_log /dev/stdout;' '  sendfile on;' '  keepalive_timeout 65;' \
      '  client_body_temp_path /tmp/client_temp;' '  proxy_temp_path /tmp/proxy_temp;' \
      '  fastcgi_temp_path /tmp/fastcgi_temp;' '  uwsgi_temp_path /tmp/uwsgi_temp;' '  scgi_temp_path /tmp/scgi_temp;' \
      '  include /etc/nginx/conf.d/*.conf;' '}' >/etc/nginx/nginx.conf \
 && chown -R 101:101 /etc/nginx/conf.d /usr/share/nginx/html /var/cache/nginx /var/log/nginx \
 && mkdir -p /docker-entrypoint.d \
 && printf '%s\n' '#!/bin/sh' 'set -e' \
      'if [ "$1" = nginx ]; then' \
      '  for script in /docker-entrypoint.d/*.sh; do if [ -x "$script" ]; then "$script"; fi; done' \
      'fi' 'exec "$@"' >/docker-entrypoint.sh \
 && chmod 755 /docker-entrypoint.sh
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 8080
STOPSIGNAL SIGQUIT
USER 101
CMD ["nginx", "-g", "daemon off;"]
EOF

docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^(python:3.11-slim|node:20-slim|nginxinc/|herald-debian)" || true
