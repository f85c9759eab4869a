"""docs/bindings.md lists the signature of every public function and method of the
package, exactly as the code declares it. `python3 tests/test_docs.py` prints the list."""
from __future__ import annotations

import inspect
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import phicrypt  # noqa: E402

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir, "docs",
                   "bindings.md")


def render(name: str, f) -> str:
    """One line: name(param: annotation = default, *, ...) -> annotation (annotations as written)."""
    sig = inspect.signature(f)
    parts, star = [], False
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        s = p.name
        if p.annotation is not p.empty:
            s += f": {getattr(p.annotation, '__forward_arg__', p.annotation)}"
        if p.default is not p.empty:
            s += f" = {p.default!r}"
        parts.append(s)
    ret = "" if sig.return_annotation is sig.empty or f.__name__ == "__init__" else f" -> {sig.return_annotation}"
    return f"{name}({', '.join(parts)}){ret}"


def signatures() -> list:
    out = [render(f"phicrypt.{n}", getattr(phicrypt, n)) for n in sorted(phicrypt.__all__)
           if inspect.isfunction(getattr(phicrypt, n))]
    out.append(render("phicrypt.Client", phicrypt.Client.__init__))
    out.append(render("phicrypt.Session", phicrypt.Session))
    for n, f in sorted(inspect.getmembers(phicrypt.Client, inspect.isfunction)):
        if not n.startswith("_"):
            out.append(render(f"Client.{n}", f))
    return out


def test_docs__every_signature_listed():
    text = open(DOC, encoding="utf-8").read()
    missing = [s for s in signatures() if s not in text]
    assert not missing, "docs/bindings.md lacks (or has an outdated form of):\n" + "\n".join(missing)


if __name__ == "__main__":
    print("\n".join(signatures()))
