#!/usr/bin/env bash
# The Debian packages: builds libphicrypt0, libphicrypt-dev, phicrypt and python3-phicrypt
# with `dpkg-buildpackage -us -uc -b` from a copy of the source tree, checks their contents
# and lintian (no errors), checks apt can resolve their dependencies, unpacks them into a
# scratch root (the machine is not touched), compiles the README's C example there with
# `pkg-config --cflags --libs phicrypt`, runs it against a key set made by the packaged
# CLI, and imports the packaged Python module (which finds the packaged libphicrypt.so.0).
# Slow (a full build): suite 'deb', run by `tests/run.sh --packages` (and so by .ci/run).
# TAP. Usage: test_deb.sh SOURCE_DIR
set -u
S=$(realpath "${1:?usage: test_deb.sh SOURCE_DIR}")
. "$S/tests/packaging/readme_example.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-deb-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && tail -40 "$2" | sed 's/^/# /'; return 0; }
check() { local name=$1; shift; if "$@" >"$T/out" 2>&1; then ok "$name"; else nok "$name" "$T/out"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

echo "1..10"
for tool in dpkg-buildpackage dh help2man; do
  command -v $tool >/dev/null || { echo "Bail out! $tool missing (scripts/deps.sh debhelper help2man dh-python)"; exit 1; }
done
VERSION=$(dpkg-parsechangelog -l "$S/debian/changelog" -S Version)
ARCH=$(dpkg-architecture -qDEB_HOST_ARCH)
MA=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# A copy of the tracked and new (not ignored) files: no build directories, nothing stale.
mkdir "$T/phicrypt-$VERSION"
(cd "$S" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' |
  tar --null -T - -cf -) | tar -xf - -C "$T/phicrypt-$VERSION"
build() {
  cd "$T/phicrypt-$VERSION" &&
    DEB_BUILD_OPTIONS="nocheck parallel=2" nice dpkg-buildpackage -us -uc -b
}
if build >"$T/build.log" 2>&1; then ok "test_deb__dpkg_buildpackage"; else
  nok "test_deb__dpkg_buildpackage" "$T/build.log"; echo "Bail out! the packages did not build"; exit 1; fi

debs() {
  for p in libphicrypt0 libphicrypt-dev phicrypt; do ls "$T/${p}_${VERSION}_${ARCH}.deb" || return 1; done
  ls "$T/python3-phicrypt_${VERSION}_all.deb"
  [ "$VERSION" = "$(meson introspect "$S/meson.build" --projectinfo 2>/dev/null |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" ] ||
    { echo "debian/changelog version $VERSION is not meson.build's"; return 1; }
}
check "test_deb__four_packages_named_for_the_version" debs

contents() {
  c() { dpkg-deb -c "$T/$1" | awk '{print $6}' | sed 's|^\./|/|'; }
  c "libphicrypt0_${VERSION}_${ARCH}.deb" > "$T/lib0"
  c "libphicrypt-dev_${VERSION}_${ARCH}.deb" > "$T/dev"
  c "phicrypt_${VERSION}_${ARCH}.deb" > "$T/cli"
  c "python3-phicrypt_${VERSION}_all.deb" > "$T/py"
  grep -qx "/usr/lib/$MA/libphicrypt.so.0.*" "$T/lib0" && ! grep -q '\.h$\|\.a$\|bin/' "$T/lib0" || { echo "lib0:"; cat "$T/lib0"; return 1; }
  for f in /usr/include/phicrypt.h /usr/lib/$MA/libphicrypt.a /usr/lib/$MA/libphicrypt.so /usr/lib/$MA/pkgconfig/phicrypt.pc; do
    grep -qx "$f" "$T/dev" || { echo "dev lacks $f"; return 1; }
  done
  for h in "$S"/include/phicrypt/*.h; do grep -qx "/usr/include/phicrypt/$(basename "$h")" "$T/dev" || { echo "dev lacks $h"; return 1; }; done
  for f in /usr/bin/phicrypt /usr/share/man/man1/phicrypt.1.gz /usr/share/bash-completion/completions/phicrypt; do
    grep -qx "$f" "$T/cli" || { echo "phicrypt lacks $f"; cat "$T/cli"; return 1; }
  done
  for f in __init__.py __main__.py py.typed; do
    grep -qx "/usr/lib/python3/dist-packages/phicrypt/$f" "$T/py" || { echo "python3-phicrypt lacks $f"; return 1; }
  done
  dpkg-deb -f "$T/python3-phicrypt_${VERSION}_all.deb" Depends | grep -q libphicrypt0 || { echo "python3-phicrypt does not depend on libphicrypt0"; return 1; }
  dpkg-deb -f "$T/libphicrypt-dev_${VERSION}_${ARCH}.deb" Depends | grep -q "libphicrypt0 (= $VERSION)"
}
check "test_deb__package_contents (lib, headers + .a + .pc, CLI + man page, Python)" contents

if command -v lintian >/dev/null; then
  lint() {
    lintian --fail-on error --tag-display-limit 0 "$T"/*.deb > "$T/lintian.out" 2>&1; local rc=$?
    sed 's/^/lintian: /' "$T/lintian.out"
    return $rc
  }
  check "test_deb__lintian_no_errors" lint
  sed 's/^/# /' "$T/lintian.out"
else
  skip "test_deb__lintian_no_errors" "lintian not installed"
fi

resolve() { apt-get install --simulate --no-install-recommends "$T"/*.deb; }
check "test_deb__apt_resolves_the_dependencies" resolve

R=$T/root
unpack() { for d in "$T"/*.deb; do dpkg-deb -x "$d" "$R" || return 1; done; }
check "test_deb__unpacked_into_a_scratch_root" unpack
export LD_LIBRARY_PATH=$R/usr/lib/$MA

man_page() { # the man page carries every command's help
  zcat "$R/usr/share/man/man1/phicrypt.1.gz" > "$T/phicrypt.1"
  for c in init keys encrypt decrypt deid reid audit token; do grep -q "^\.SS $c$" "$T/phicrypt.1" || { echo "no section $c"; return 1; }; done
  grep -q "^\.SH COMMANDS" "$T/phicrypt.1" && grep -q -- "--algorithm deterministic" "$T/phicrypt.1"
}
check "test_deb__man_page_from_help" man_page

mkdir -p "$T/pc"
sed "s|^prefix=.*|prefix=$R/usr|" "$R/usr/lib/$MA/pkgconfig/phicrypt.pc" > "$T/pc/phicrypt.pc"
readme() {
  readme_c_example "$S/README.md" > "$T/demo.c"
  readme_keyset "$T" "$R/usr/bin/phicrypt" || return 1
  # shellcheck disable=SC2046
  PKG_CONFIG_PATH=$T/pc cc -std=c11 -Wall -Werror -o "$T/demo" "$T/demo.c" $(PKG_CONFIG_PATH=$T/pc pkg-config --cflags --libs phicrypt) || return 1
  (cd "$T" && ./demo) > "$T/demo.out" || return 1
  cat "$T/demo.out"
  grep -q ' -> "123-45-6789"$' "$T/demo.out"
}
check "test_deb__readme_c_example_against_the_packages" readme

python() {
  (cd "$T" && env -u PHICRYPT_LIBRARY PYTHONPATH="$R/usr/lib/python3/dist-packages" /usr/bin/python3 -m phicrypt --version) > "$T/py.out" || return 1
  cat "$T/py.out"
  grep -q "^phicrypt $VERSION (Python package at $R/usr/lib/python3/dist-packages/phicrypt)" "$T/py.out" &&
    grep -q "^libphicrypt $VERSION ($R/usr/lib/$MA/libphicrypt.so.0" "$T/py.out"
}
check "test_deb__python3_phicrypt_finds_the_packaged_library" python

completion() { # the packaged completion script completes the packaged tool's commands and options
  bash -c '. "$1"; COMP_WORDS=(phicrypt enc); COMP_CWORD=1; _phicrypt; echo "${COMPREPLY[*]}";
           COMP_WORDS=(phicrypt deid --pol); COMP_CWORD=2; _phicrypt; echo "${COMPREPLY[*]}"' _ \
    "$R/usr/share/bash-completion/completions/phicrypt" > "$T/compl.out" || return 1
  cat "$T/compl.out"
  [ "$(sed -n 1p "$T/compl.out")" = "encrypt encrypt-command encrypt-document" ] &&
    [ "$(sed -n 2p "$T/compl.out")" = "--policy" ]
}
check "test_deb__bash_completion" completion
exit $failed
