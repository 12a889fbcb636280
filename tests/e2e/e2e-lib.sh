# The start every end-to-end script shares. Sourced, after `set -euo
# pipefail`, as
#   source "$(dirname "$0")/e2e-lib.sh" "${1:-}" NAME
# where $1 is the build folder the script was given. Sets BUILD, ROOT, CUSTOS,
# NODE_BIN (and the demo helpers of scripts/demo-lib.sh), DEMO_DIR (a fresh
# folder under /tmp, removed with every node started in it on exit), the
# passphrase and network the demo uses, and fail / expect_eq.
BUILD=$(cd "${1:?usage: $2 BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/scripts/lib.sh"
source "$ROOT/scripts/demo-lib.sh"

CUSTOS="$BUILD/wallet/custos"
NODE_BIN="$BUILD/node/custos-node"
DEMO_DIR=$(mktemp -d "/tmp/custos-$2.XXXXXX")
export CUSTOS_PASSPHRASE=e2e-pass CUSTOS_NETWORK=custos-demo
trap 'demo_stop_nodes; rm -rf "$DEMO_DIR"' EXIT

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }
