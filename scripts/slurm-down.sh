#!/usr/bin/env bash
# Stops the one-node Slurm cluster of scripts/slurm-up.sh: cancels every job, then stops slurmd,
# slurmctld and munged by their pid files (never by name). Idempotent; always exits 0.
set -uo pipefail
DIR=${SEILAB_SLURM_DIR:-/tmp/seilab-slurm}
export SLURM_CONF=$DIR/slurm.conf
if [ -s "$DIR/run/slurmctld.pid" ] && command -v scancel >/dev/null 2>&1; then
  timeout 5 scancel --full --quiet --user="$(id -un)" >/dev/null 2>&1 || true
fi
stop() {  # stop the process in pid file $1, waiting up to 5 s, then SIGKILL
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$f"
}
stop "$DIR/run/slurmd.pid"
stop "$DIR/run/slurmctld.pid"
stop "$DIR/munge/munged.pid"
echo "slurm: down"
exit 0
