#!/usr/bin/env bash
# The Node.js binding's tests as TAP: builds the addon with node-gyp against the system's
# Node headers (npm_config_nodedir=/usr) and the libphicrypt of PHICRYPT_BUILD_DIR (its
# uninstalled pkg-config file), from a copy of bindings/node (the source tree stays clean),
# with node-addon-api installed from the committed lockfile (npm ci), then `node --test`
# (which runs examples/mongodb with the official driver too).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
B=${PHICRYPT_BUILD_DIR:?PHICRYPT_BUILD_DIR must name the meson build directory}
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-node-XXXXXX")
trap 'rm -rf "$T"' EXIT
cp -r "$HERE/package.json" "$HERE/package-lock.json" "$HERE/binding.gyp" "$HERE/index.js" "$HERE/index.d.ts" \
  "$HERE/src" "$HERE/test" "$T/"
mkdir -p "$T/examples" && cp -r "$HERE/examples/mongodb" "$T/examples/" && rm -rf "$T/examples/mongodb/node_modules"
export PKG_CONFIG_PATH=$B/meson-uninstalled npm_config_nodedir=/usr
if ! (cd "$T" && npm ci --no-audit --no-fund) > "$T/npm.log" 2>&1; then
  echo "1..1"; echo "not ok 1 - test_node__addon_builds"; sed 's/^/# /' "$T/npm.log" | tail -30; exit 1
fi
# the official driver for the example (pinned by its lockfile); without it that test skips
(cd "$T/examples/mongodb" && npm ci --no-audit --no-fund) >> "$T/npm.log" 2>&1 || echo "# examples/mongodb: npm ci failed" >&2
cd "$T" && LD_LIBRARY_PATH=$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} node --test --test-reporter=tap test/ |
  grep -v '^TAP version'
exit "${PIPESTATUS[0]}"
