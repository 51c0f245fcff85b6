#!/usr/bin/env bash
# `make images`: builds herald-campaign, herald-template, herald-analytics, herald-processor, herald-emulator and
# herald-ui (tag $TAG, default dev) from the repository root.
#
# Base images come from the registry when one answers. Where none does (a machine that reaches only the package
# registries), deploy/docker/base-images.sh builds stand-ins under the same names from Debian packages.
# Builds use the host's network (--network host), so pip and npm inside them reach the registries as the host does.
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG=${TAG:-dev}
BASES=(python:3.11-slim node:20-slim nginxinc/nginx-unprivileged:1.27-alpine)

missing=()
for base in "${BASES[@]}"; do
  docker pull -q "$base" >/dev/null 2>&1 || missing+=("$base")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Builds only what is missing or made by an older recipe; a no-op otherwise.
  echo "no registry answered for ${missing[*]}: stand-ins from Debian packages"
  deploy/docker/base-images.sh
fi

build() { # image dockerfile [build args...]
  local image=$1 dockerfile=$2 start
  shift 2
  start=$(date +%s)
  docker build --network host -q -f "$dockerfile" "$@" -t "$image:$TAG" . >/dev/null
  printf '%-22s %4ss  %s\n' "$image:$TAG" "$(( $(date +%s) - start ))" \
    "$(docker image inspect -f '{{.Size}}' "$image:$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
}

declare -A PORTS=([campaign]=8001 [template]=8002 [analytics]=8003 [processor]=8004)
for service in campaign template analytics processor; do
  build "herald-$service" deploy/docker/Dockerfile --build-arg "SERVICE=$service" --build-arg "PORT=${PORTS[$service]}"
done
build herald-emulator deploy/docker/emulator.Dockerfile
build herald-ui ui/Dockerfile
