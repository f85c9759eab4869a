"""The package installs like any other: ``pip install ./bindings/python`` into a venv made with
``--system-site-packages`` (Debian's pip, setuptools and wheel, offline), and ``pip wheel``.
The installed package finds libphicrypt through PHICRYPT_LIBRARY here (the library under
test); the Debian packaging test covers finding the installed libphicrypt.so.0."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import phicrypt

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
PY = "/usr/bin/python3"  # Debian's interpreter: its pip/setuptools/wheel are what users have
OFFLINE = ["--no-build-isolation", "--no-index", "--no-deps", "--disable-pip-version-check", "--no-cache-dir"]


def _have(mod: str) -> bool:
    return subprocess.run([PY, "-c", f"import {mod}"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not (os.path.exists(PY) and _have("venv") and _have("ensurepip")
                                     and _have("setuptools") and _have("wheel")),
                                reason="needs python3-venv, python3-setuptools and python3-wheel")


def _source_copy(tmp_path):
    """A copy of bindings/python without tests or build leftovers: pip builds in the tree it is
    given, and the source checkout must stay clean."""
    dst = tmp_path / "src"
    shutil.copytree(SRC, dst, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    return dst


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, f"{cmd[:3]} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    d = tmp_path_factory.mktemp("venv")
    _run([PY, "-m", "venv", "--system-site-packages", str(d / "v")])
    src = _source_copy(d)
    _run([str(d / "v" / "bin" / "pip"), "install", *OFFLINE, str(src)])
    return d / "v"


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PHICRYPT_LIBRARY"] = phicrypt.library_path()
    return env


def test_install__pip_install_into_venv(venv, tmp_path):
    code = ("import os, phicrypt, sys; print(phicrypt.__file__); print(phicrypt.version()); "
            "print(os.path.exists(os.path.join(os.path.dirname(phicrypt.__file__), 'py.typed')))")
    r = _run([str(venv / "bin" / "python"), "-c", code], env=_env(), cwd=tmp_path)
    where, version, typed = r.stdout.split("\n")[:3]
    assert where.startswith(str(venv)), where  # the installed copy, not the source tree
    assert version == phicrypt.version()
    assert typed == "True"


def test_install__version_command(venv, tmp_path):
    r = _run([str(venv / "bin" / "python"), "-m", "phicrypt", "--version"], env=_env(), cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"phicrypt {phicrypt.__version__} ")
    assert lines[1] == f"libphicrypt {phicrypt.version()} ({os.path.realpath(phicrypt.library_path())})"
    assert lines[2].startswith("libmongocrypt ")
    bad = subprocess.run([str(venv / "bin" / "python"), "-m", "phicrypt", "--frobnicate"], capture_output=True,
                         text=True, env=_env(), cwd=tmp_path)
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.startswith("usage:")


def test_install__missing_library_is_a_clear_error(venv, tmp_path):
    env = dict(_env(), PHICRYPT_LIBRARY=str(tmp_path / "nope.so"))
    r = subprocess.run([str(venv / "bin" / "python"), "-m", "phicrypt", "--version"], capture_output=True,
                       text=True, env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert "libphicrypt not found" in r.stderr and "PHICRYPT_LIBRARY" in r.stderr


def test_install__works_from_the_venv(venv, tmp_path):
    """A real round trip through the installed package (not the source tree)."""
    code = r'''
import json, sys, phicrypt
d = sys.argv[1]
phicrypt.create_local_key_file(d + "/master.key")
open(d + "/kv.jsonl", "w").close()
cfg = {"kms_providers": {"local": {"key_file": d + "/master.key"}}, "key_vault": "file:" + d + "/kv.jsonl"}
with phicrypt.Client(cfg, use_bson=False) as c:
    c.create_data_key("local", key_alt_names=["k"])
    ct = c.encrypt_json('"123-45-6789"', key_alt_name="k", algorithm="random")
    assert c.decrypt_json(ct) == '"123-45-6789"'
print("ok", phicrypt.__file__)
'''
    r = _run([str(venv / "bin" / "python"), "-c", code, str(tmp_path)], env=_env(), cwd=tmp_path)
    assert r.stdout.startswith("ok " + str(venv))


def test_install__pip_wheel(tmp_path):
    src = _source_copy(tmp_path)
    out = tmp_path / "wheels"
    _run([PY, "-m", "pip", "wheel", *OFFLINE, "-w", str(out), str(src)])
    wheels = list(out.glob("phicrypt-*.whl"))
    assert [w.name for w in wheels] == [f"phicrypt-{phicrypt.__version__}-py3-none-any.whl"]
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "phicrypt/py.typed" in names and "phicrypt/__main__.py" in names
    assert not [n for n in names if n.startswith("tests/") or n.endswith((".so", ".pyc"))], names
    meta = zipfile.ZipFile(wheels[0]).read(f"phicrypt-{phicrypt.__version__}.dist-info/METADATA").decode()
    assert "Name: phicrypt" in meta and "Typing :: Typed" in meta


def test_install__package_version_is_the_library_version():
    """One version number: meson.build's project version, the package's, the library's."""
    import re
    meson = open(os.path.join(SRC, os.pardir, os.pardir, "meson.build"), encoding="utf-8").read()
    m = re.search(r"version\s*:\s*'([^']+)'", meson)
    assert m and m.group(1) == phicrypt.__version__ == phicrypt.version()
