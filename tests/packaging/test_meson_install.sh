#!/usr/bin/env bash
# `meson install` gives a usable C library: installs the build into a DESTDIR, checks the
# files (soname, static archive, every public header, pkg-config file), then compiles the
# README's C example against it with `pkg-config --cflags --libs phicrypt` (shared) and
# `pkg-config --static` (libphicrypt.a) and runs both against a key set made by the
# installed CLI. TAP. Usage: test_meson_install.sh BUILD_DIR SOURCE_DIR
set -u
B=$(realpath "${1:?usage: test_meson_install.sh BUILD_DIR SOURCE_DIR}")
S=$(realpath "${2:?usage: test_meson_install.sh BUILD_DIR SOURCE_DIR}")
. "$S/tests/packaging/readme_example.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/phicrypt-install-XXXXXX")
trap 'rm -rf "$T"' EXIT
n=0; failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; return 0; }
check() { local name=$1; shift; if "$@" >"$T/out" 2>&1; then ok "$name"; else nok "$name" "$T/out"; fi; }

echo "1..8"
R=$T/root
if ! meson install -C "$B" --destdir "$R" --no-rebuild --quiet >"$T/install.log" 2>&1; then
  nok "test_packaging__meson_install" "$T/install.log"; echo "Bail out! meson install failed"; exit 1
fi
ok "test_packaging__meson_install"
prefix=$(meson introspect "$B" --buildoptions | /usr/bin/python3 -c \
  'import json,sys; o={x["name"]:x["value"] for x in json.load(sys.stdin)}; print(o["prefix"]); print(o["libdir"]); print(o["bindir"])')
P=$(sed -n 1p <<<"$prefix"); LIBDIR=$R$P/$(sed -n 2p <<<"$prefix"); BIN=$R$P/$(sed -n 3p <<<"$prefix")/phicrypt

files() {
  soname=$(readelf -d "$LIBDIR/libphicrypt.so.0" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [ "$soname" = libphicrypt.so.0 ] || { echo "SONAME is '$soname'"; return 1; }
  [ "$(readlink "$LIBDIR/libphicrypt.so")" = libphicrypt.so.0 ] || { echo "libphicrypt.so is not a link to .so.0"; return 1; }
  ar t "$LIBDIR/libphicrypt.a" | grep -q . || { echo "libphicrypt.a is empty"; return 1; }
  # every public header of the source tree is installed, and nothing private
  (cd "$S/include" && find . -name '*.h' | sort) > "$T/src-headers"
  (cd "$R$P/include" && find . -name '*.h' | sort) > "$T/inst-headers"
  diff "$T/src-headers" "$T/inst-headers" || return 1
  # the archive defines what the shared library exports (nothing missing for static users)
  nm -D --defined-only "$LIBDIR/libphicrypt.so.0" | awk '$2 == "T" {print $3}' | sed 's/@.*//' | sort -u > "$T/so-syms"
  nm --defined-only "$LIBDIR/libphicrypt.a" 2>/dev/null | awk '$2 == "T" {print $3}' | sort -u > "$T/a-syms"
  comm -23 "$T/so-syms" "$T/a-syms" | tee "$T/missing" | head -5
  [ ! -s "$T/missing" ] && [ -s "$T/so-syms" ]
}
check "test_packaging__installed_files (soname, .so link, .a, every public header)" files

# The .pc file as installed, relocated into the DESTDIR (what a distro's sysroot would do).
mkdir -p "$T/pc"
sed "s|^prefix=.*|prefix=$R$P|" "$LIBDIR/pkgconfig/phicrypt.pc" > "$T/pc/phicrypt.pc"
export PKG_CONFIG_PATH=$T/pc
pcfile() {
  pkg-config --exists --print-errors phicrypt || return 1
  [ "$(pkg-config --modversion phicrypt)" = "$(meson introspect "$B" --projectinfo |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')" ] ||
    { echo "pkg-config version differs from the project's"; return 1; }
  pkg-config --cflags phicrypt | grep -q -- "-I$R$P/include" || { echo "Cflags lack the include dir"; return 1; }
  # Requires.private must name every library libphicrypt.so.0 links (else static links fail)
  for lib in $(readelf -d "$LIBDIR/libphicrypt.so.0" | sed -n 's/.*(NEEDED).*\[lib\([a-z0-9_+-]*\)\.so.*/\1/p'); do
    case $lib in c|m|pthread|dl|rt) continue ;; esac
    pkg-config --static --libs phicrypt | grep -q -- "-l$lib\b" || { echo "pkg-config --static lacks -l$lib"; return 1; }
  done
}
check "test_packaging__pkg_config_file (version, Cflags, Requires.private covers NEEDED)" pcfile

readme_c_example "$S/README.md" > "$T/demo.c"
check "test_packaging__readme_example_extracted" grep -q 'phicrypt_encrypt_json' "$T/demo.c"

export LD_LIBRARY_PATH=$LIBDIR
check "test_packaging__installed_cli_runs" readme_keyset "$T" "$BIN"

shared() {
  # shellcheck disable=SC2046
  cc -std=c11 -Wall -Werror -o "$T/demo" "$T/demo.c" $(pkg-config --cflags --libs phicrypt) || return 1
  readelf -d "$T/demo" | grep -q 'NEEDED.*libphicrypt.so.0' || { echo "not linked to libphicrypt.so.0"; return 1; }
  (cd "$T" && ./demo) > "$T/demo.out" || return 1
  cat "$T/demo.out"
  grep -q ' -> "123-45-6789"$' "$T/demo.out"
}
check "test_packaging__readme_example_shared (pkg-config --cflags --libs)" shared

static() {
  local libs
  libs=$(pkg-config --static --libs phicrypt | sed 's/-lphicrypt\b//')
  # shellcheck disable=SC2086
  cc -std=c11 -Wall -Werror -o "$T/demo-static" "$T/demo.c" $(pkg-config --cflags phicrypt) \
    -Wl,-Bstatic -lphicrypt -Wl,-Bdynamic $libs || return 1
  ! readelf -d "$T/demo-static" | grep -q 'NEEDED.*libphicrypt' || { echo "still needs libphicrypt.so"; return 1; }
  (cd "$T" && env -u LD_LIBRARY_PATH ./demo-static) > "$T/demo-static.out" || return 1
  grep -q ' -> "123-45-6789"$' "$T/demo-static.out"
}
check "test_packaging__readme_example_static (libphicrypt.a, pkg-config --static)" static

unset LD_LIBRARY_PATH
nolib() { # without the library on the path the demo fails to start: the test above used the DESTDIR copy
  ! (cd "$T" && LD_LIBRARY_PATH= ./demo) >/dev/null 2>&1 || ldconfig -p | grep -q libphicrypt.so.0
}
check "test_packaging__shared_demo_uses_the_installed_copy" nolib
exit $failed
