#!/usr/bin/env bash
# Build LAMMPS with ML-PACE (+ MPI when available) from registry sources only.
#
# No OPENMP package: pair_style pace has no OpenMP variant, and leaving the package out saves 232 of
# ~600 compile units (a shorter first `make demo`); more cores go through MPI ranks.
#
#   LAMMPS 4Feb2025  : Debian trixie source package lammps_20250204+dfsg.1.orig.tar.xz (fetched through apt
#                      with a private apt configuration; the mirror serves the orig tarball)
#   PACE C++ library : lib/ace of the python-ace 0.4.0rc1 sdist from PyPI (ace-evaluator, src/ace, cnpy,
#                      wigner-cpp, yaml-cpp), compiled as the CMake target `pace` that LAMMPS' ML-PACE.cmake
#                      consumes through -D LOCAL_ML-PACE=<dir>
#
# Result: ${SEILAB_CACHE:-$HOME/.cache/seilab}/lammps-<version>-<confighash>/bin/lmp plus build-info.json.
# Idempotent: an existing, working binary is reused. The LAST line printed on stdout is the lmp path.
#
# Environment knobs:
#   SEILAB_CACHE             cache root (default $HOME/.cache/seilab)
#   SEILAB_LAMMPS_MPI        auto (default) | on | off
#   SEILAB_LAMMPS_JOBS       parallel compile jobs (default: 2)
#   SEILAB_LAMMPS_NICE       nice level for the compile (default 10)
#   SEILAB_LAMMPS_TARBALL    use this local copy of lammps_20250204+dfsg.1.orig.tar.xz (sha256-checked)
#   SEILAB_PYACE_SDIST       use this local copy of python_ace-0.4.0rc1.tar.gz (sha256-checked)
#   SEILAB_LAMMPS_NO_APT=1   never call apt-get install (even as root)
#   SEILAB_KEEP_BUILD=1      keep the build tree (default: removed after a successful build)
#   PYTHON                   python for the sdist download: the index page with the standard library,
#                            pip as the fallback (default: ./.venv/bin/python or python3)
set -euo pipefail

LAMMPS_VERSION="4Feb2025"
DEB_VERSION="20250204+dfsg.1"
TARBALL="lammps_${DEB_VERSION}.orig.tar.xz"
TARBALL_SHA256="3671165bd52fad36734e0a9136c5bc5ecb225e03988f8c89aa13366a8b53b1c7"
DEB_SUITE="trixie"
DEB_MIRROR="http://deb.debian.org/debian"
PYACE_VERSION="0.4.0rc1"
PYACE_SDIST="python_ace-${PYACE_VERSION}.tar.gz"
PYACE_SDIST_SHA256="f1ba688d61848a936b6eb48b31d8a41b9fb33b761a2a869f67c97a9efcf25440"
LAMMPS_PACKAGES="ML-PACE"
BUILD_RECIPE_REV="2"   # bump when the recipe below changes in a way that changes the binary

CACHE="${SEILAB_CACHE:-$HOME/.cache/seilab}"
JOBS="${SEILAB_LAMMPS_JOBS:-2}"
NICE="${SEILAB_LAMMPS_NICE:-10}"
MPI_MODE="${SEILAB_LAMMPS_MPI:-auto}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"

log() { echo "[build_lammps] $*" >&2; }
die() { echo "[build_lammps] error: $*" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------------------------
# 1. system packages (root only, best effort)
# ---------------------------------------------------------------------------------------------------------
have_mpi_headers() { command -v mpicxx >/dev/null 2>&1 && echo '#include <mpi.h>' | mpicxx -x c++ -fsyntax-only - >/dev/null 2>&1; }

install_system_packages() {
  [ "${SEILAB_LAMMPS_NO_APT:-0}" = 1 ] && return 0
  [ "$(id -u)" = 0 ] || return 0
  command -v apt-get >/dev/null 2>&1 || return 0
  local need=()
  command -v cmake >/dev/null 2>&1 || need+=(cmake)
  command -v g++ >/dev/null 2>&1 || need+=(g++)
  command -v make >/dev/null 2>&1 || need+=(make)
  command -v xz >/dev/null 2>&1 || need+=(xz-utils)
  [ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
  if [ "$MPI_MODE" != off ]; then
    have_mpi_headers || need+=(libopenmpi-dev)
    command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
  fi
  [ ${#need[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || log "warning: apt-get update failed"
  if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; then
    log "warning: could not install all of: ${need[*]}; trying without the MPI packages"
    local base=()
    for p in "${need[@]}"; do case "$p" in libopenmpi-dev|openmpi-bin) ;; *) base+=("$p");; esac; done
    [ ${#base[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${base[@]}" >&2 || true
  fi
}

install_system_packages
for tool in cmake g++ make xz tar sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (run as root to let this script apt-get it)"
done

case "$MPI_MODE" in
  on)   have_mpi_headers || die "SEILAB_LAMMPS_MPI=on but mpi.h / mpicxx are not usable (apt-get install libopenmpi-dev)"; MPI=yes ;;
  off)  MPI=no ;;
  auto) if have_mpi_headers; then MPI=yes; else MPI=no; fi ;;
  *)    die "SEILAB_LAMMPS_MPI must be auto, on or off (got '$MPI_MODE')" ;;
esac

# ---------------------------------------------------------------------------------------------------------
# 2. the configuration hash decides the install prefix
# ---------------------------------------------------------------------------------------------------------
CMAKE_ARGS=(
  -D CMAKE_BUILD_TYPE=Release
  -D BUILD_SHARED_LIBS=off
  -D BUILD_OMP=off
  -D PKG_OPENMP=off
  -D PKG_ML-PACE=on
  -D WITH_JPEG=off -D WITH_PNG=off -D WITH_FFMPEG=off -D WITH_GZIP=on
  -D DOWNLOAD_POTENTIALS=off
)
if [ "$MPI" = yes ]; then
  CMAKE_ARGS+=(-D BUILD_MPI=on)
else
  CMAKE_ARGS+=(-D BUILD_MPI=off -D CMAKE_DISABLE_FIND_PACKAGE_MPI=ON)
fi
CONFIG_STRING="lammps=${LAMMPS_VERSION};tarball=${TARBALL_SHA256};pyace=${PYACE_SDIST_SHA256};packages=${LAMMPS_PACKAGES};mpi=${MPI};cmake=${CMAKE_ARGS[*]};cxx=$(g++ -dumpfullversion 2>/dev/null || echo unknown);rev=${BUILD_RECIPE_REV}"
CONFIG_HASH="$(printf '%s' "$CONFIG_STRING" | sha256sum | cut -c1-10)"
PREFIX="${CACHE}/lammps-${LAMMPS_VERSION}-${CONFIG_HASH}"
LMP="${PREFIX}/bin/lmp"

binary_ok() { [ -x "$LMP" ] && [ -s "${PREFIX}/build-info.json" ] && "$LMP" -h 2>/dev/null | grep -q "ML-PACE"; }

if binary_ok; then
  log "reusing ${LMP}"
  echo "$LMP"
  exit 0
fi

mkdir -p "$CACHE/downloads"
exec 9>"${CACHE}/.build-lammps-${CONFIG_HASH}.lock"
if ! flock -n 9; then
  log "another build of ${CONFIG_HASH} is running; waiting for it"
  flock 9
fi
if binary_ok; then log "reusing ${LMP} (built by a concurrent run)"; echo "$LMP"; exit 0; fi

# ---------------------------------------------------------------------------------------------------------
# 3. sources
# ---------------------------------------------------------------------------------------------------------
fetch_lammps_tarball() {
  local dest="$CACHE/downloads/$TARBALL"
  if [ -n "${SEILAB_LAMMPS_TARBALL:-}" ]; then
    [ -f "$SEILAB_LAMMPS_TARBALL" ] || die "SEILAB_LAMMPS_TARBALL=$SEILAB_LAMMPS_TARBALL does not exist"
    [ "$(sha256_of "$SEILAB_LAMMPS_TARBALL")" = "$TARBALL_SHA256" ] || die "sha256 mismatch for $SEILAB_LAMMPS_TARBALL"
    echo "$SEILAB_LAMMPS_TARBALL"; return
  fi
  if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$TARBALL_SHA256" ]; then echo "$dest"; return; fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to fetch $TARBALL (or set SEILAB_LAMMPS_TARBALL)"
  # private apt configuration: a trixie deb-src line, nothing of the system's apt state is touched
  local apt="$CACHE/apt-${DEB_SUITE}-src"
  mkdir -p "$apt/etc/sources.list.d" "$apt/etc/preferences.d" "$apt/state/lists/partial" "$apt/cache/archives/partial"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${DEB_MIRROR} ${DEB_SUITE} main" > "$apt/etc/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
              -o "Dir::Etc::Preferences=$apt/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
              -o "Dir::State=$apt/state" -o "Dir::State::Lists=$apt/state/lists" -o "Dir::Cache=$apt/cache"
              -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  local url=""
  log "resolving $TARBALL through apt (${DEB_SUITE} deb-src)"
  if apt-get "${opts[@]}" -qq update >&2 2>&1; then
    # apt prints: 'URL' filename size SHA256:hash  -- the .dsc itself 404s on this mirror, the tarball does not
    url="$(apt-get "${opts[@]}" source --print-uris "lammps" 2>/dev/null | awk -v f="$TARBALL" '$2 == f {gsub("\047", "", $1); print $1}' | head -n1)"
  else
    log "warning: apt-get update of the private ${DEB_SUITE} deb-src index failed"
  fi
  if [ -z "$url" ]; then
    url="${DEB_MIRROR}/pool/main/l/lammps/lammps_${DEB_VERSION/+/%2b}.orig.tar.xz"
    log "apt did not list $TARBALL (newer source version?); using the pool path $url"
  fi
  log "downloading $url"
  rm -f "$dest.part"
  /usr/lib/apt/apt-helper -o APT::Sandbox::User=root download-file "$url" "$dest.part" "SHA256:${TARBALL_SHA256}" >&2 \
    || die "download of $TARBALL failed"
  mv "$dest.part" "$dest"
  echo "$dest"
}

fetch_pyace_sdist() {
  local dest="$CACHE/downloads/$PYACE_SDIST"
  if [ -n "${SEILAB_PYACE_SDIST:-}" ]; then
    [ "$(sha256_of "$SEILAB_PYACE_SDIST")" = "$PYACE_SDIST_SHA256" ] || die "sha256 mismatch for $SEILAB_PYACE_SDIST"
    echo "$SEILAB_PYACE_SDIST"; return
  fi
  if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$PYACE_SDIST_SHA256" ]; then echo "$dest"; return; fi
  local py="${PYTHON:-}"
  if [ -z "$py" ]; then
    if [ -x "$REPO_DIR/.venv/bin/python" ]; then py="$REPO_DIR/.venv/bin/python"; else py="python3"; fi
  fi
  local tmp; tmp="$(mktemp -d "$CACHE/downloads/pyace.XXXXXX")"
  # First the package index's simple page (PEP 503) with the standard library: any python3 will do, no
  # pip and no build backend (pip prepares an sdist's metadata, which fails with an old setuptools).
  local index="${PIP_INDEX_URL:-https://pypi.org/simple}"
  log "downloading the python-ace ${PYACE_VERSION} sdist from ${index%/}/python-ace/"
  if ! "$py" - "${index%/}/python-ace/" "$PYACE_SDIST" "$tmp/$PYACE_SDIST" >&2 <<'PY'
import re, sys, urllib.parse, urllib.request
page, name, dest = sys.argv[1:4]
html = urllib.request.urlopen(page, timeout=120).read().decode()
link = next(h for h in re.findall(r'href="([^"]+)"', html) if urllib.parse.urlsplit(h).path.endswith("/" + name))
with urllib.request.urlopen(urllib.parse.urljoin(page, link), timeout=300) as r, open(dest, "wb") as fh:
    fh.write(r.read())
PY
  then
    log "the index page did not work; downloading the sdist with pip"
    rm -f "$tmp/$PYACE_SDIST"
    # --no-binary python-ace: the sdist (which carries lib/ace); no build isolation so pip does not try to
    # build cmake/ninja from source just to read the sdist's metadata
    "$py" -m pip download --disable-pip-version-check -q --no-deps --no-build-isolation \
        --no-binary python-ace "python-ace==${PYACE_VERSION}" -d "$tmp" >&2 \
      || die "download of the python-ace sdist failed (index page and pip)"
  fi
  [ -f "$tmp/$PYACE_SDIST" ] || die "pip did not produce $PYACE_SDIST"
  [ "$(sha256_of "$tmp/$PYACE_SDIST")" = "$PYACE_SDIST_SHA256" ] || die "sha256 mismatch for the downloaded $PYACE_SDIST"
  mv "$tmp/$PYACE_SDIST" "$dest"; rm -rf "$tmp"
  echo "$dest"
}

LAMMPS_TGZ="$(fetch_lammps_tarball)"
PYACE_TGZ="$(fetch_pyace_sdist)"

WORK="${CACHE}/build/lammps-${LAMMPS_VERSION}-${CONFIG_HASH}"
rm -rf "$WORK"; mkdir -p "$WORK"
log "extracting sources into $WORK"
tar -xJf "$LAMMPS_TGZ" -C "$WORK"
tar -xzf "$PYACE_TGZ" -C "$WORK"
LAMMPS_SRC="$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'lammps-*' | head -n1)"
ACE_ROOT="$WORK/python_ace-${PYACE_VERSION}/lib/ace"
[ -d "$LAMMPS_SRC/cmake" ] || die "no cmake/ directory in the LAMMPS tarball"
[ -d "$ACE_ROOT/ace-evaluator" ] || die "no lib/ace/ace-evaluator in the python-ace sdist"

# the `pace` target LAMMPS' cmake/Modules/Packages/ML-PACE.cmake adds with add_subdirectory(LOCAL_ML-PACE)
PACE_DIR="$WORK/libpace"
mkdir -p "$PACE_DIR"
cat > "$PACE_DIR/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.16)
project(libpace CXX)
set(ACE_ROOT "${ACE_ROOT}")
set(YAML_CPP_BUILD_TOOLS OFF CACHE BOOL "" FORCE)
set(YAML_CPP_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(YAML_CPP_FORMAT_SOURCE OFF CACHE BOOL "" FORCE)
set(YAML_CPP_INSTALL OFF CACHE BOOL "" FORCE)
set(YAML_BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
add_subdirectory(\${ACE_ROOT}/ace-evaluator/lib/yaml-cpp build-yaml-cpp-pace EXCLUDE_FROM_ALL)
file(GLOB PACE_SOURCES
     \${ACE_ROOT}/ace-evaluator/src/ace-evaluator/*.cpp
     \${ACE_ROOT}/src/ace/*.cpp
     \${ACE_ROOT}/utils/cnpy/cnpy.cpp)
add_library(pace STATIC \${PACE_SOURCES})
set_target_properties(pace PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(pace PUBLIC
     \${ACE_ROOT}/ace-evaluator/src
     \${ACE_ROOT}/src
     \${ACE_ROOT}/utils
     \${ACE_ROOT}/utils/wigner-cpp/include)
target_compile_definitions(pace PUBLIC EXTRA_C_PROJECTIONS COMPUTE_B_GRAD)
target_link_libraries(pace PUBLIC yaml-cpp-pace)
EOF

# ---------------------------------------------------------------------------------------------------------
# 4. configure + compile
# ---------------------------------------------------------------------------------------------------------
BUILD="$WORK/build"
log "configuring (MPI=${MPI}, packages: ${LAMMPS_PACKAGES}); config hash ${CONFIG_HASH}"
T0=$(date +%s)
cmake -S "$LAMMPS_SRC/cmake" -B "$BUILD" "${CMAKE_ARGS[@]}" -D "LOCAL_ML-PACE=$PACE_DIR" > "$WORK/cmake.log" 2>&1 \
  || { tail -n 40 "$WORK/cmake.log" >&2; die "cmake configure failed (log: $WORK/cmake.log)"; }
log "compiling with 'nice -n ${NICE} make -j${JOBS}' (under 8 min on 2 cores; log: $WORK/make.log)"
( cd "$BUILD" && nice -n "$NICE" make -j"$JOBS" lmp ) > "$WORK/make.log" 2>&1 \
  || { tail -n 40 "$WORK/make.log" >&2; die "compile failed (log: $WORK/make.log)"; }
T1=$(date +%s)

# ---------------------------------------------------------------------------------------------------------
# 5. install into a temporary prefix, smoke-test, write build-info.json, then move into place atomically
# ---------------------------------------------------------------------------------------------------------
STAGE="${PREFIX}.tmp.$$"
rm -rf "$STAGE"; mkdir -p "$STAGE/bin"
cp "$BUILD/lmp" "$STAGE/bin/lmp"
"$STAGE/bin/lmp" -h > "$STAGE/lmp-help.txt" 2>&1 || die "the new lmp does not run (see $STAGE/lmp-help.txt)"
grep -q "ML-PACE" "$STAGE/lmp-help.txt" || die "the new lmp has no ML-PACE package"

PYJ="python3"; command -v python3 >/dev/null 2>&1 || PYJ="$REPO_DIR/.venv/bin/python"
"$PYJ" - "$STAGE" <<PY
import json, re, sys, platform, datetime, pathlib
stage = pathlib.Path(sys.argv[1])
text = (stage / "lmp-help.txt").read_text()
m = re.search(r"Large-scale Atomic/Molecular Massively Parallel Simulator - (.+?)\n", text)
version = m.group(1).strip() if m else "${LAMMPS_VERSION}"
pk = re.search(r"Installed packages:\s*\n\s*\n(.*?)\n\s*\n", text, re.S)
packages = pk.group(1).split() if pk else []
mpi_line = re.search(r"MPI v[^\n]*", text)
info = {
    "lammps_version": version,
    "lammps_version_tag": "${LAMMPS_VERSION}",
    "packages": packages,
    "mpi": "${MPI}" == "yes",
    "mpi_library": mpi_line.group(0).strip() if mpi_line else None,
    "openmp": "OPENMP" in packages,
    "source_tarball": "${TARBALL}",
    "source_tarball_sha256": "${TARBALL_SHA256}",
    "source_origin": "Debian ${DEB_SUITE} source package lammps ${DEB_VERSION}",
    "pace_library": "python-ace ${PYACE_VERSION} sdist lib/ace",
    "pace_sdist_sha256": "${PYACE_SDIST_SHA256}",
    "compile_definitions": ["EXTRA_C_PROJECTIONS", "COMPUTE_B_GRAD"],
    "cmake_args": [a for a in """${CMAKE_ARGS[*]}""".split() if a != "-D"],
    "config_hash": "${CONFIG_HASH}",
    "build_seconds": ${T1} - ${T0},
    "build_jobs": ${JOBS},
    "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "host": platform.node(),
    "lmp": "${LMP}",
}
(stage / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
PY

rm -rf "$PREFIX"
mv "$STAGE" "$PREFIX"
[ "${SEILAB_KEEP_BUILD:-0}" = 1 ] || rm -rf "$WORK"
log "built in $((T1 - T0)) s: $LMP"
echo "$LMP"
