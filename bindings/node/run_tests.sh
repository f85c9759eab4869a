#!/usr/bin/env bash
# The Node.js binding's tests as TAP: builds the addon with node-gyp against the system's
# Node headers (npm_config_nodedir=/usr) and the libphicrypt of PHICRYPT_BUILD_DIR (its
# uninstalled pkg-config file), from a copy of bindings/node (the source tree stays clean),
# with node-addon-api installed from the committed lockfile (npm ci), then `node --test`.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=${PHICRYPT_BUILD_DIR:?PHICRYPT_BUILD_DIR must name the meson build directory}
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-node-XXXXXX")
trap 'rm -rf "$T"' EXIT
cp -r "$HERE/package.json" "$HERE/package-lock.json" "$HERE/binding.gyp" "$HERE/index.js" "$HERE/index.d.ts" \
  "$HERE/src" "$HERE/test" "$T/"
export PKG_CONFIG_PATH=$B/meson-uninstalled npm_config_nodedir=/usr
if ! (cd "$T" && npm ci --no-audit --no-fund) > "$T/npm.log" 2>&1; then
  echo "1..1"; echo "not ok 1 - test_node__addon_builds"; sed 's/^/# /' "$T/npm.log" | tail -30; exit 1
fi
cd "$T" && LD_LIBRARY_PATH=$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} node --test --test-reporter=tap test/ |
  grep -v '^TAP version'
exit "${PIPESTATUS[0]}"
