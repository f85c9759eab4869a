#!/usr/bin/env bash
# Shared by the packaging tests: extract the C example of README.md ("## Using the
# library"), make the key set it expects with a given phicrypt CLI, and run it.
#   readme_c_example README.md > demo.c
#   readme_keyset DIR PHICRYPT   (DIR/keys/phicrypt.json with the data key "patients")

readme_c_example() {
  awk '/^## Using the library/ {s = 1} s && /^```c$/ {c = 1; next} c && /^```$/ {exit} c {print}' "$1"
}

readme_keyset() {
  local dir=$1 cli=$2
  ( cd "$dir" && "$cli" init --dir keys >/dev/null &&
    "$cli" --config keys/phicrypt.json keys create --provider local --alt-name patients >/dev/null )
}
