# Shared by scripts/run and scripts/test. Source it; do not run it.

CUSTOS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs whichever packages of scripts/packages.txt are missing, without
# questions. A no-op (and no network access) when all are present.
ensure_packages() {
  local wanted missing=()
  wanted=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$CUSTOS_ROOT/scripts/packages.txt")
  for pkg in $wanted; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo; install as root: apt-get install ${missing[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q || die "apt-get update failed"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed"
}

# build_tree DIR [cmake args...]: configures (once) and builds with ccache, -j2.
build_tree() {
  local dir=$1; shift
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$CUSTOS_ROOT" -B "$dir" "${generator[@]}" "$@" >/dev/null \
      || die "cmake configure failed in $dir"
  fi
  cmake --build "$dir" -j2 || die "build failed in $dir"
}
