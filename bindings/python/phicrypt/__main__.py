"""``python3 -m phicrypt --version``: which package and which libphicrypt are in use."""
from __future__ import annotations

import sys
from typing import List, Optional

USAGE = "usage: python3 -m phicrypt [--version | --help]\n"


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        sys.stdout.write(USAGE + "\nPrints the versions of the phicrypt Python package, of the libphicrypt it "
                         "loads (and from where) and of libmongocrypt.\n")
        return 0
    if args not in ([], ["--version"], ["-V"]):
        sys.stderr.write(USAGE)
        return 2
    import phicrypt
    print(f"phicrypt {phicrypt.__version__} (Python package at {phicrypt.__path__[0]})")
    try:
        print(f"libphicrypt {phicrypt.version()} ({phicrypt.library_path()})")
        print(f"libmongocrypt {phicrypt.mongocrypt_version()}")
    except OSError as e:
        sys.stderr.write(f"phicrypt: {e}\n")
        return 1
    if phicrypt.version() != phicrypt.__version__:
        sys.stderr.write(f"phicrypt: warning: the package is {phicrypt.__version__} but libphicrypt is "
                         f"{phicrypt.version()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
