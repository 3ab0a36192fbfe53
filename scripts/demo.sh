#!/usr/bin/env bash
# `make demo`: install into the venv and run the worked example end to end on the embedded reference.
#
# On a fresh machine LAMMPS (with ML-PACE) has to be compiled (~600 compile units). Nothing before the
# simulation stage needs it, so the build runs in the background from the start, in the SCHED_IDLE
# scheduling class (`chrt --idle`): it only gets CPU time that the install and the stages leave unused
# (pip downloads, one-core stages), and a TensorFlow fit that wants both cores preempts it at once (at
# nice 10 a fit on 2 threads ran at the speed of 1). The simulation stage starts once the build is there;
# with a cached binary the build step returns in a second.
#
#   usage: scripts/demo.sh [CONFIG]         (default examples/li-li7p3s11.yaml)
#   env:   VENV (.venv), PYTHON (python3), MAKE (make), SEILAB_DEMO_BUILD_LOG (/tmp/seilab-lammps-build.log)
set -euo pipefail

CONFIG="${1:-examples/li-li7p3s11.yaml}"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
MAKE="${MAKE:-make}"
SEILAB="$VENV/bin/seilab"
BUILD_LOG="${SEILAB_DEMO_BUILD_LOG:-${TMPDIR:-/tmp}/seilab-lammps-build.log}"

[ -f "$CONFIG" ] || { echo "demo: config file not found: $CONFIG" >&2; exit 1; }
start=$(date +%s)
build_pid=""

start_build() {
  local idle=()
  command -v chrt >/dev/null 2>&1 && chrt --idle 0 true 2>/dev/null && idle=(chrt --idle 0)
  echo "== LAMMPS + ML-PACE: building or reusing in the background${idle:+ (SCHED_IDLE)} (log: $BUILD_LOG)"
  SEILAB_LAMMPS_NICE=19 PYTHON="$1" "${idle[@]}" bash scripts/build_lammps.sh >"$BUILD_LOG" 2>&1 &
  build_pid=$!
  trap 'kill -- "$build_pid" 2>/dev/null || true' INT TERM
}

# the build fetches the PACE sources with pip: before the venv exists that takes a Python with pip
if [ ! -x "$VENV/bin/python" ] && "$PYTHON" -m pip --version >/dev/null 2>&1; then
  start_build "$PYTHON"
fi
"$MAKE" --no-print-directory setup VENV="$VENV" PYTHON="$PYTHON"
[ -n "$build_pid" ] || start_build "$VENV/bin/python"
echo "== install done after $(( $(date +%s) - start )) s"

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
