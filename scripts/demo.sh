#!/usr/bin/env bash
# `make demo`: install into the venv and run the worked example end to end on the embedded reference.
#
# On a fresh machine LAMMPS (with ML-PACE) has to be compiled (~600 compile units). Nothing before the
# simulation stage needs it, so the build runs in the background from the start, in the SCHED_IDLE
# scheduling class (`chrt --idle`) and its own process group, beside the install and the chemistry stage
# (one core each). It is paused (SIGSTOP/SIGCONT) while sampling, labelling and the first ACE fit keep
# both cores busy: on this 2-core machine a compiler beside them, even a SCHED_IDLE one, made sampling
# 1.8x and labelling 1.9x slower, and TensorFlow on 2 threads ran at the speed of 1. It resumes for
# validation and active learning (mostly one-core MD), and the simulation stage starts once it is
# there. With a cached binary the build step returns in a second.
#
# The acceptance gate is real here too: when no potential passed validation after active learning, the
# production stages (interface MD, analysis, transport) are not run; the report says why, and the demo
# ends there (exit 0: the campaign did what it should). ALLOW_UNVALIDATED=1 runs them anyway
# (`seilab run --allow-unvalidated`), and the report marks every downstream number as unvalidated.
#
#   usage: scripts/demo.sh [CONFIG]         (default examples/li-li7p3s11.yaml)
#   env:   VENV (.venv), PYTHON (python3), MAKE (make), SEILAB_DEMO_BUILD_LOG (/tmp/seilab-lammps-build.log),
#          ALLOW_UNVALIDATED (unset)
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
  # setsid: its own process group, so that it can be paused and stopped as a whole
  SEILAB_LAMMPS_NICE=19 PYTHON="$1" setsid "${idle[@]}" bash scripts/build_lammps.sh >"$BUILD_LOG" 2>&1 &
  build_pid=$!
  trap 'kill -CONT -- "-$build_pid" 2>/dev/null; kill -- "-$build_pid" 2>/dev/null || true; exit 130' INT TERM
}
building() { kill -0 "$build_pid" 2>/dev/null; }

# the build fetches the PACE sources from the package index: any python3 can do that before the venv exists
if [ ! -x "$VENV/bin/python" ] && command -v "$PYTHON" >/dev/null 2>&1; then
  start_build "$PYTHON"
fi
"$MAKE" --no-print-directory setup VENV="$VENV" PYTHON="$PYTHON"
[ -n "$build_pid" ] || start_build "$VENV/bin/python"
echo "== install done after $(( $(date +%s) - start )) s"

# each call runs only its own stages, so the terminal lists every stage once
"$SEILAB" run "$CONFIG" --only chemistry
if building; then
  echo "== pausing the LAMMPS build while sampling, labelling and the first fit use both cores"
  kill -STOP -- "-$build_pid" 2>/dev/null || true
fi
"$SEILAB" run "$CONFIG" --only sampling --only labelling --only training || { kill -CONT -- "-$build_pid" 2>/dev/null; exit 1; }
kill -CONT -- "-$build_pid" 2>/dev/null || true
"$SEILAB" run "$CONFIG" --only validation --only learning

RUN_FLAGS=()
[ -n "${ALLOW_UNVALIDATED:-}" ] && RUN_FLAGS=(--allow-unvalidated)
accepted=$("$VENV/bin/python" -c '
import json, sys
from seilab.config import load_config
gate = load_config(sys.argv[1]).stage_dir("validation") / "gate.json"
print("yes" if gate.is_file() and json.loads(gate.read_text()).get("accepted") else "no")' "$CONFIG")
if [ "$accepted" = no ] && [ -z "${ALLOW_UNVALIDATED:-}" ]; then
  "$SEILAB" run "$CONFIG" --only simulation --only report || true   # stops at the gate with the one-line reason, writes the report
  echo "== demo: no potential passed the acceptance gate, so the production stages did not run (see the report's"
  echo "   verdict). To run them anyway, every number marked unvalidated: make demo ALLOW_UNVALIDATED=1"
  echo "   (the LAMMPS build goes on in the background: $BUILD_LOG)"
  echo "== demo finished in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
  trap - INT TERM
  exit 0
fi

if building; then
  echo "== waiting for the LAMMPS build (log: $BUILD_LOG)"
fi
if ! wait "$build_pid"; then
  echo "demo: the LAMMPS build failed; the last lines of $BUILD_LOG:" >&2
  tail -n 20 "$BUILD_LOG" >&2
  exit 1
fi
trap - INT TERM
echo "== LAMMPS: $(tail -n 1 "$BUILD_LOG") (ready after $(( $(date +%s) - start )) s)"

"$SEILAB" run "$CONFIG" --only simulation --only analysis --only transport --only report "${RUN_FLAGS[@]}"
echo "== demo finished in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
