#!/usr/bin/env bash
# What `make test` needs beyond Python and Node, installed where this machine allows it (root with apt-get), or
# named with the exact command to run where it does not.
#
#   scripts/test-tools.sh        Chromium for the dashboard's browser tests (make test runs this)
#   scripts/test-tools.sh --ci   also a Docker engine (started if none runs), Compose v2, debootstrap for stand-in base
#                                images, and promtool: CI runs the container test, which elsewhere skips without them
set -euo pipefail
CI_MODE=0
[ "${1:-}" = "--ci" ] && CI_MODE=1

can_apt() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }
updated=0
apt_install() {
  if [ "$updated" = 0 ]; then apt-get update -qq; updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
need() { # what-for command-to-run
  echo "make test needs $1. Run:  $2" >&2
  exit 1
}

if ! [ -x /usr/bin/chromium ]; then
  if can_apt; then apt_install chromium; else need "Debian's Chromium for the browser tests" "sudo apt-get install chromium"; fi
fi

[ "$CI_MODE" = 1 ] || exit 0
can_apt || need "root and apt-get to install Docker in CI" "sudo $0 --ci"

command -v dockerd >/dev/null || apt_install docker.io
command -v debootstrap >/dev/null || apt_install debootstrap
command -v promtool >/dev/null || apt_install prometheus || echo "warning: no promtool; the rule tests skip" >&2
# Compose v2: Debian 12 ships only v1; Debian 13's docker-compose package is v2 (a static Go binary), taken from
# trixie with a low pin so nothing else on the machine moves to it.
if ! docker compose version >/dev/null 2>&1; then
  if ! apt-cache policy docker-compose 2>/dev/null | grep -q ' 2\.'; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      >/etc/apt/sources.list.d/herald-trixie.sources
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >/etc/apt/preferences.d/herald-trixie
  fi
  apt-get update -qq
  version=$(apt-cache policy docker-compose | sed -n '/Version table/,$p' | tr -d '*' | awk '$1 ~ /^2\./ {print $1; exit}')
  [ -n "$version" ] || need "Compose v2" "apt-get install docker-compose (Debian 13) or docker-compose-plugin (Docker's repository)"
  apt_install "docker-compose=$version"
fi
if ! docker info >/dev/null 2>&1; then
  nohup dockerd >/var/log/herald-dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /var/log/herald-dockerd.log >&2; exit 1; }
fi
docker compose version

