#!/usr/bin/env bash
# collarreader's one entry point for people and CI.
#
#   ./run.sh demo   the main job, on generated data
#   ./run.sh test   lint, type check, import contracts and the whole test suite
#   ./run.sh bench  the benchmarks in bench/ (prints figures and ratios)
#   ./run.sh setup  only create/refresh the virtual environments
#   ./run.sh postgres  start the loopback PostgreSQL the database tests use, print its URL
#   ./run.sh orthanc   start the loopback Orthanc (DICOMweb) the pull tests use, print its URL
#   ./run.sh bundle    build the PyInstaller one-folder application (dist/collarreader) and test it
#
# It sets itself up on a fresh Debian machine: the Debian packages Qt and the tests
# need (when run as root and missing), a virtual environment in .venv with the
# project and its extras, and for the tests a second one in .venv-noqt without Qt.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$PWD
VENV=$ROOT/.venv
VENV_NOQT=$ROOT/.venv-noqt

log() { printf '\033[1m[run.sh]\033[0m %s\n' "$*" >&2; }

# Debian packages: the shared libraries PySide6's offscreen/xcb platforms load, Xvfb
# for the screenshot test, Tesseract for the text-in-pixels check of prepare, and the
# peers the benchmarks measure against.
DEBIAN_RUNTIME=(libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
  libfreetype6 libglib2.0-0 libdbus-1-3 fonts-dejavu-core libopenjp2-7
  tesseract-ocr tesseract-ocr-eng)
DEBIAN_TEST=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0)
DEBIAN_BENCH=(libgdcm-tools dcmtk)
DEBIAN_POSTGRES=(postgresql)
APT_LOCK_WAIT_S=${APT_LOCK_WAIT_S:-600}  # how long to wait for another apt's package lock
# A PACS for the pull tests (our own instance and config, not the package's service) and
# dcmtk's dsrdump, which must read our SR files.
DEBIAN_INTEROP=(orthanc orthanc-dicomweb dcmtk)

ensure_debian() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "missing Debian packages (install them as root): ${missing[*]}"
    return 0
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt (unattended upgrades, a second shell) holds the package lock: wait for it
  # instead of stopping with apt's raw lock error and exit 100.
  if command -v pgrep >/dev/null && pgrep -x 'apt|apt-get|aptitude|dpkg|unattended-upgr' >/dev/null; then
    log "another apt or dpkg is running; waiting up to ${APT_LOCK_WAIT_S}s for its lock…"
  fi
  apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT_S" update -qq
  apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT_S" install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

find_python() {
  local c
  for c in python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null &&
       "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  log "Python >= 3.11 is needed (Debian: apt-get install python3 python3-venv)"; exit 1
}

# Recreate a venv when pyproject.toml changed since it was made.
ensure_venv() {  # $1 = venv dir, $2 = extras, $3 = "noqt" to uninstall Qt afterwards
  local dir=$1 extras=$2 mode=${3:-} stamp
  stamp=$(sha256sum pyproject.toml | cut -c1-16)-$mode
  [[ -f $dir/.collarreader-stamp && $(cat "$dir/.collarreader-stamp") == "$stamp" ]] && return 0
  local py; py=$(find_python)
  if [[ ! -x $dir/bin/python ]]; then
    log "creating $dir"
    if ! "$py" -m venv "$dir" 2>/dev/null; then
      ensure_debian python3-venv; rm -rf "$dir"; "$py" -m venv "$dir"
    fi
  fi
  [[ -x $dir/bin/uv ]] || "$dir/bin/python" -m pip install -q --disable-pip-version-check uv
  log "installing collarreader[$extras] into $dir"
  "$dir/bin/uv" pip install -q --compile-bytecode --python "$dir/bin/python" -e ".[$extras]"
  if [[ $mode == noqt ]]; then
    # The core must work where Qt is absent: uninstall it for real.
    "$dir/bin/uv" pip uninstall -q --python "$dir/bin/python" \
      PySide6-Essentials shiboken6 pyqtgraph pytest-qt
  fi
  echo "$stamp" > "$dir/.collarreader-stamp"
}

# A throwaway PostgreSQL cluster on loopback for the tests that claim PostgreSQL.
# Exports COLLARREADER_TEST_POSTGRES_URL; the tests skip (or, with CI=true, fail) without it.
PG_PORT=${COLLARREADER_PG_PORT:-54329}
start_postgres() {
  ensure_debian "${DEBIAN_POSTGRES[@]}"
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z $bin ]]; then log "PostgreSQL is not installed: its tests will skip"; return 0; fi
  local data=${TMPDIR:-/tmp}/collarreader-pg-$PG_PORT run_as=()
  if [[ $(id -u) -eq 0 ]]; then run_as=(runuser -u postgres --); fi
  if ! "${run_as[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    rm -rf "$data"; mkdir -p "$data"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$data"
    "${run_as[@]}" "$bin/initdb" -D "$data" -A trust -U collar --no-sync >/dev/null
    "${run_as[@]}" "$bin/pg_ctl" -D "$data" -w -l "$data/server.log" -o \
      "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $data -c fsync=off" start >/dev/null
    log "PostgreSQL started on 127.0.0.1:$PG_PORT ($data)"
  fi
  export COLLARREADER_TEST_POSTGRES_URL="postgresql+psycopg://collar@127.0.0.1:$PG_PORT/postgres"
}

# A throwaway Orthanc with the DICOMweb plugin on 127.0.0.1 for the pull tests: our own config,
# storage and credentials under $TMPDIR, DICOM port off. Exports COLLARREADER_TEST_ORTHANC_URL
# and _AUTH; without them the tests start their own (and skip, or with CI=true fail, when
# Orthanc is not installed).
ORTHANC_PORT=${COLLARREADER_ORTHANC_PORT:-58042}
start_orthanc() {
  ensure_debian "${DEBIAN_INTEROP[@]}"
  if ! command -v Orthanc >/dev/null && [[ ! -x /usr/sbin/Orthanc ]]; then
    log "Orthanc is not installed: the pull tests will skip"; return 0
  fi
  local line
  line=$("$VENV/bin/python" tests/interop/orthanc_server.py start --port "$ORTHANC_PORT" \
    --dir "${TMPDIR:-/tmp}/collarreader-orthanc-$ORTHANC_PORT") || {
    log "Orthanc did not start: the pull tests start their own"; return 0; }
  eval "$line"
  export COLLARREADER_TEST_ORTHANC_URL COLLARREADER_TEST_ORTHANC_AUTH
}

# PyInstaller one-folder application in dist/collarreader (spec: packaging/collarreader.spec),
# then its smoke test: --version, doctor and demo --screenshot from outside the venv.
build_bundle() {
  ensure_debian "${DEBIAN_RUNTIME[@]}"
  ensure_venv "$VENV" test,dev,bundle
  log "PyInstaller (one folder) → dist/collarreader"
  "$VENV/bin/pyinstaller" --noconfirm --clean --log-level ERROR \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" packaging/collarreader.spec
  export COLLARREADER_BUNDLE="$ROOT/dist/collarreader"
}
cmd_bundle() {
  build_bundle
  log "bundle and wheel tests"
  QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -m pytest -p no:xdist tests/packaging -q "$@"
}

cmd_setup() {
  ensure_debian "${DEBIAN_RUNTIME[@]}" "${DEBIAN_TEST[@]}" "${DEBIAN_INTEROP[@]}"
  ensure_venv "$VENV" test,dev,bundle
  ensure_venv "$VENV_NOQT" test noqt
}

cmd_demo() {
  ensure_debian "${DEBIAN_RUNTIME[@]}"
  ensure_venv "$VENV" test,dev,bundle
  # Our own modules' bytecode, for a quick start even where PYTHONDONTWRITEBYTECODE is set
  # (uv compiled the dependencies' at install); cheap when nothing changed.
  "$VENV/bin/python" -m compileall -q src >/dev/null || true
  # Opens the reader window on a display; with none, renders offscreen and writes a PNG.
  "$VENV/bin/collarreader" demo "$@"
}

cmd_test() {
  cmd_setup
  export QT_QPA_PLATFORM=offscreen
  start_postgres
  start_orthanc
  # CI tests the bundle too (a few minutes to build); by hand, ./run.sh bundle does.
  if [[ ${CI:-} == true ]]; then build_bundle; fi
  log "ruff";          "$VENV/bin/ruff" check src tests bench
  log "ruff format";   "$VENV/bin/ruff" format --check src tests bench
  log "mypy";          "$VENV/bin/mypy"
  log "import-linter"; (cd "$ROOT" && "$VENV/bin/lint-imports")
  log "pytest (all tests, with Qt)"
  "$VENV/bin/python" -m pytest -n 2 -p xdist "$@"
  log "pytest (everything outside tests/ui, Qt uninstalled)"
  (cd "$ROOT" && "$VENV_NOQT/bin/python" -m pytest -n 2 -p no:pytestqt --ignore=tests/ui "$@")
}

cmd_bench() {
  ensure_debian "${DEBIAN_RUNTIME[@]}" "${DEBIAN_BENCH[@]}"
  ensure_venv "$VENV" test,dev,bundle
  local b
  for b in bench/bench_*.py; do
    b=$(basename "$b" .py); log "bench.$b"
    "$VENV/bin/python" -m "bench.$b" "$@"
  done
}

case ${1:-} in
  demo)  shift; cmd_demo "$@" ;;
  test)  shift; cmd_test "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  setup) shift; cmd_setup "$@" ;;
  postgres) start_postgres; echo "export COLLARREADER_TEST_POSTGRES_URL=$COLLARREADER_TEST_POSTGRES_URL" ;;
  orthanc) ensure_venv "$VENV" test,dev,bundle; start_orthanc
    echo "export COLLARREADER_TEST_ORTHANC_URL=${COLLARREADER_TEST_ORTHANC_URL:-}" \
      "COLLARREADER_TEST_ORTHANC_AUTH=${COLLARREADER_TEST_ORTHANC_AUTH:-}" ;;
  bundle) shift; cmd_bundle "$@" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
