#!/bin/sh
# phicrypt(1) from the tool's own help: the top-level --help through help2man,
# plus a COMMANDS section with each command's --help, so that the man page
# never says something the tool does not.
#   sh debian/manpage.sh PATH/TO/phicrypt > phicrypt.1
set -eu
P=$1
inc=$(mktemp)
trap 'rm -f "$inc"' EXIT
{
  echo "[COMMANDS]"
  for c in init keys encrypt decrypt encrypt-command encrypt-document decrypt-document analyze token \
           tokenize detokenize pseudonymize audit deid reid; do
    echo ".SS $c"
    echo ".nf"
    "$P" "$c" --help 2>&1 | sed -e 's/\\/\\e/g' -e 's/^[.'"'"']/\\\&&/'
    echo ".fi"
  done
} > "$inc"
help2man --no-info --no-discard-stderr --section=1 \
  --name="protect PHI with MongoDB client-side field-level encryption, tokens and de-identification" \
  --include="$inc" "$P"
