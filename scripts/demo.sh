#!/usr/bin/env bash
# `make demo`: the worked example end to end on the embedded reference.
#
# On a fresh machine LAMMPS (with ML-PACE) has to be compiled first (~8.5 min on 2 idle cores). Nothing
# before the simulation stage needs it, and most of those stages keep one core busy, so the build runs in
# the background at low priority (nice 10) while chemistry → active learning run, and the simulation stage
# starts once the build is there. With a cached binary the build step returns in a second.
#
#   usage: scripts/demo.sh [CONFIG]         (default examples/li-li7p3s11.yaml)
#   env:   VENV (default .venv), SEILAB_DEMO_BUILD_LOG (default /tmp/seilab-lammps-build.log)
set -euo pipefail

CONFIG="${1:-examples/li-li7p3s11.yaml}"
VENV="${VENV:-.venv}"
SEILAB="$VENV/bin/seilab"
BUILD_LOG="${SEILAB_DEMO_BUILD_LOG:-${TMPDIR:-/tmp}/seilab-lammps-build.log}"

[ -x "$SEILAB" ] || { echo "demo: $SEILAB not found (run make setup)" >&2; exit 1; }
[ -f "$CONFIG" ] || { echo "demo: config file not found: $CONFIG" >&2; exit 1; }

start=$(date +%s)
echo "== LAMMPS + ML-PACE: building or reusing in the background (log: $BUILD_LOG)"
bash scripts/build_lammps.sh >"$BUILD_LOG" 2>&1 &
build_pid=$!
trap 'kill -- "$build_pid" 2>/dev/null || true' INT TERM

"$SEILAB" run "$CONFIG" --until learning

if ! wait "$build_pid"; then
  echo "demo: the LAMMPS build failed; the last lines of $BUILD_LOG:" >&2
  tail -n 20 "$BUILD_LOG" >&2
  exit 1
fi
trap - INT TERM
echo "== LAMMPS: $(tail -n 1 "$BUILD_LOG")"

"$SEILAB" run "$CONFIG"
echo "== demo finished in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
