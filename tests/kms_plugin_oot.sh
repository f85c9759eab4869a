#!/bin/sh
# The example KMS plug-in built out of tree with its Makefile, against the
# public header found through pkg-config only, then the plug-in suite
# (test_kms_plugin) run with that build.
#   kms_plugin_oot.sh SOURCE_ROOT BUILD_DIR TEST_KMS_PLUGIN_EXE
set -u
src=$1 build=$2 exe=$3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
if ! PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
     make -s -C "$tmp" -f "$src/examples/kms-plugin/Makefile" SRCDIR="$src/examples/kms-plugin" \
     CFLAGS="-O2 -Wall -Wextra -Werror" >"$tmp/make.log" 2>&1; then
  echo "1..1"
  echo "not ok 1 - out-of-tree build of examples/kms-plugin"
  sed 's/^/# /' "$tmp/make.log"
  exit 1
fi
PHICRYPT_TEST_XCHACHA_PLUGIN="$tmp/phicrypt-kms-xchacha.so" "$exe"
