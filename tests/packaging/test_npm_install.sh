#!/usr/bin/env bash
# `npm install ./bindings/node` works as the README says: into a scratch project, with the
# system's Node headers (npm_config_nodedir=/usr, nothing downloaded but the pinned
# node-addon-api from the registry) and the libphicrypt of BUILD_DIR (its uninstalled
# pkg-config file), then `require('phicrypt')` round-trips an encryption. The README's two ways:
#  1. exactly `npm install ./bindings/node` at the root of a checkout (npm links the folder, installs
#     node-addon-api into the checkout's node_modules and builds the addon in the folder), on a copy
#     of the tracked files so that the source tree stays clean;
#  2. `npm install --install-links <source>/bindings/node` from another project (npm packs the
#     folder as a published package would be: catches a file missing from package.json's "files").
#     Without --install-links npm only links a folder outside the project and does not install its
#     dependencies, so node-gyp cannot find node-addon-api.
# TAP. Usage: test_npm_install.sh BUILD_DIR SOURCE_DIR
set -u
B=$(realpath "${1:?usage: test_npm_install.sh BUILD_DIR SOURCE_DIR}")
S=$(realpath "${2:?usage: test_npm_install.sh BUILD_DIR SOURCE_DIR}")
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-npm-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && tail -40 "$2" | sed 's/^/# /'; return 0; }

echo "1..4"
if ! command -v npm >/dev/null || ! [ -e /usr/include/node/node_api.h ]; then
  for t in install_linked smoke_linked install_packed smoke_packed; do
    n=$((n + 1)); echo "ok $n - test_packaging__npm_$t # SKIP npm or the Node headers (libnode-dev) missing"
  done
  exit 0
fi
export PKG_CONFIG_PATH=$B/meson-uninstalled npm_config_nodedir=/usr npm_config_audit=false npm_config_fund=false \
       npm_config_update_notifier=false npm_config_cache=$T/npm-cache
# The smoke test a newcomer would write: key file, client, data key, encrypt, decrypt.
cat > "$T/smoke.js" <<'EOF'
const assert = require('assert'), fs = require('fs'), os = require('os'), path = require('path');
const phicrypt = require('phicrypt');
(async () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'phicrypt-npm-smoke-'));
  phicrypt.createLocalKeyFile(path.join(d, 'master.key'));
  fs.writeFileSync(path.join(d, 'keyvault.jsonl'), '');
  const c = await phicrypt.Client.open({ kms_providers: { local: { key_file: path.join(d, 'master.key') } },
                                         key_vault: 'file:' + path.join(d, 'keyvault.jsonl') });
  try {
    await c.createDataKey('local', { keyAltName: 'patients' });
    const ct = await c.encrypt('123-45-6789', { keyAltName: 'patients', algorithm: 'random' });
    assert.ok(Buffer.isBuffer(ct) && !ct.includes(Buffer.from('123-45-6789')));
    assert.strictEqual(await c.decrypt(ct), '123-45-6789');
    await assert.rejects(c.decrypt(Buffer.from('forged')), phicrypt.PhicryptError);
  } finally { c.close(); fs.rmSync(d, { recursive: true }); }
  assert.strictEqual(phicrypt.version(), require('phicrypt/package.json').version);
  assert.ok(fs.existsSync(require.resolve('phicrypt/index.d.ts')), 'the TypeScript declarations are installed');
  console.log('round trip ok');
})().catch((e) => { console.error(e); process.exit(1); });
EOF

# $1: name, $2: project dir, rest: the npm install arguments
install_and_run() {
  local name=$1 app=$2; shift 2
  mkdir -p "$app"
  [ -e "$app/package.json" ] || printf '{ "name": "scratch-%s", "version": "1.0.0", "private": true }\n' "$name" > "$app/package.json"
  cp "$T/smoke.js" "$app/phicrypt-smoke.js"
  if (cd "$app" && npm install "$@") > "$app/npm.log" 2>&1; then ok "test_packaging__npm_install_$name"
  else nok "test_packaging__npm_install_$name" "$app/npm.log"; n=$((n + 1)); echo "not ok $n - test_packaging__npm_smoke_$name # not installed"; return; fi
  if (cd "$app" && LD_LIBRARY_PATH=$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} node phicrypt-smoke.js) > "$app/smoke.log" 2>&1 &&
     grep -qx 'round trip ok' "$app/smoke.log"; then ok "test_packaging__npm_smoke_$name"
  else nok "test_packaging__npm_smoke_$name" "$app/smoke.log"; fi
}

# 1. the README's command at the root of a checkout (the tracked files of bindings/node)
mkdir -p "$T/checkout/bindings"
if git -C "$S" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$S" && git ls-files -z bindings/node | grep -zv '^bindings/node/examples/' |
     xargs -0 cp --parents -t "$T/checkout")
else
  cp -r "$S/bindings/node" "$T/checkout/bindings/" && rm -rf "$T/checkout/bindings/node/node_modules" "$T/checkout/bindings/node/build"
fi
install_and_run linked "$T/checkout" ./bindings/node

# 2. as a packed package, straight from the source tree (npm packs it; nothing is written there)
before=$(cd "$S/bindings/node" && find . -newer "$T/smoke.js" -not -path './node_modules*' 2>/dev/null | head -1)
install_and_run packed "$T/app-packed" --install-links "$S/bindings/node"
after=$(cd "$S/bindings/node" && find . -newer "$T/smoke.js" -not -path './node_modules*' 2>/dev/null | head -1)
[ "$before" = "$after" ] || echo "# warning: files changed under $S/bindings/node during the packed install: $after"
exit $failed
