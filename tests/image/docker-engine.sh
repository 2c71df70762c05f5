#!/usr/bin/env bash
# Runs a command with a Docker engine up: installs Debian's docker.io when dockerd is missing,
# starts dockerd in the background when no daemon answers, and stops it afterwards only if this
# script started it. Root is needed only for the install and the start.
#
#   tests/image/docker-engine.sh make test-image-run      # what `make test-image` does
#   tests/image/docker-engine.sh                          # just make sure an engine is up
set -euo pipefail

SOCK=/var/run/docker.sock
LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
log() { echo "docker-engine: $*" >&2; }

# The machine image may put a newer docker CLI first on PATH; any CLI talks to the 20.10 daemon
# through API negotiation, but only the classic builder exists there (no buildx): say so.
export DOCKER_BUILDKIT=0

engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

install_engine() {
  if [ "$(id -u)" != 0 ]; then
    log "dockerd is missing and this is not root: install docker.io (apt-get install -y docker.io)"
    exit 1
  fi
  log "installing docker.io from Debian"
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
}

started_pid=""
stop_engine() {
  [ -n "$started_pid" ] || return 0
  log "stopping the dockerd this script started (pid $started_pid)"
  kill "$started_pid" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$started_pid" 2>/dev/null || return 0; sleep 0.5; done
  log "dockerd $started_pid did not stop in 30 s"
}

if ! engine_up; then
  command -v dockerd >/dev/null || install_engine
  if [ "$(id -u)" != 0 ]; then
    log "no Docker daemon answers and starting one needs root (sudo dockerd &)"
    exit 1
  fi
  log "starting dockerd (log: $LOG)"
  # No systemd on these machines: dockerd starts its own containerd.
  dockerd >"$LOG" 2>&1 &
  started_pid=$!
  trap stop_engine EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for _ in $(seq 120); do
    [ -S "$SOCK" ] && engine_up && break
    kill -0 "$started_pid" 2>/dev/null || { log "dockerd exited; tail of $LOG:"; tail -20 "$LOG" >&2; exit 1; }
    sleep 0.5
  done
  engine_up || { log "dockerd did not answer in 60 s; tail of $LOG:"; tail -20 "$LOG" >&2; exit 1; }
fi
log "engine $(docker version --format '{{.Server.Version}}') ($(docker info --format '{{.Driver}}'))"

if [ "$#" -gt 0 ]; then
  # Not exec: the EXIT trap must stop the daemon after the command, whatever its status. In the
  # background and waited for, so that INT/TERM reach the traps at once (and the command too).
  "$@" &
  child=$!
  trap 'kill "$child" 2>/dev/null; exit 130' INT
  trap 'kill "$child" 2>/dev/null; exit 143' TERM
  wait "$child"
fi
