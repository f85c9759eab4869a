#!/usr/bin/env bash
# Installs the Debian packages phicrypt needs (only the missing ones).
#   scripts/deps.sh [extra-package ...]
# Honours PHICRYPT_NO_INSTALL=1 (report and fail instead of installing).
set -u
PKGS=(build-essential meson ninja-build pkg-config libmongocrypt-dev libbson-dev libmongoc-dev libssl-dev
      libsodium-dev libcmocka-dev python3 jq python3-pytest python3-bson python3-dask python3-distributed golang-go
      python3-cryptography python3-botocore python3-jwt python3-pykmip python3-fake-factory
      softhsm2 libp11-kit-dev
      "$@")
# the interop suite's official drivers (tests/interop/): PHP (ext-mongodb bundles its own
# libmongocrypt) and Go (built with -tags cse against Debian's libmongocrypt)
PKGS+=(php8.2-cli php8.2-mongodb golang-mongodb-mongo-driver-dev)
# bson.json_util imports pymongo; venv and wheel: the Python package's pip install/wheel test
PKGS+=(python3-pymongo python3-venv python3-wheel)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "${PHICRYPT_NO_INSTALL:-0}" = 1 ]; then
  echo "phicrypt: missing packages: ${missing[*]}" >&2
  exit 1
fi
echo "phicrypt: installing ${missing[*]} with apt-get" >&2
SUDO=""
[ "$(id -u)" != 0 ] && SUDO=sudo
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null ||
  { echo "phicrypt: apt-get install failed" >&2; exit 1; }
