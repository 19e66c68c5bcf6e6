"""The layer rule: a sans-IO folder imports no I/O, and nothing from the layers above it.

Every module under a sans-IO folder is read (not imported) and each of its
imports, at any depth of the module (a function's local import counts too), is
checked against the folder's forbidden list. A new sans-IO core adds one line
to `SANS_IO`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parent.parent / "services"

#: what no sans-IO module may import: sockets, TLS, event loops, threads, clocks, the bus
IO_MODULES = (
    "socket", "ssl", "select", "selectors", "asyncio", "gevent", "zmq", "threading", "time",
    "datetime",
)

#: sans-IO folder (under services/) -> the packages of its service it may not import
SANS_IO: dict[str, tuple[str, ...]] = {
    "signalling/sip": (
        "sipsimple_services.signalling.transport",
        "sipsimple_services.signalling.glue",
        "sipsimple_services.signalling.bus",
        "sipsimple_services.common",
    ),
    "media/rtp": (
        "sipsimple_services.media.engine",
        "sipsimple_services.media.service",
        "sipsimple_services.media.stream",
        "sipsimple_services.media.devices",
        "sipsimple_services.common",
    ),
    "media/ice": (
        "sipsimple_services.media.engine",
        "sipsimple_services.media.service",
        "sipsimple_services.media.stream",
        "sipsimple_services.media.devices",
        "sipsimple_services.media.ports",
        "sipsimple_services.common",
    ),
    "msrp/protocol": ("sipsimple_services.common",),
}


def module_name(path: Path, root: Path = SERVICES) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("sipsimple_services", *parts))


def imports_of(path: Path, root: Path = SERVICES) -> list[str]:
    """Every module `path` imports, relative imports resolved."""
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.append(target)
            # `from pkg import module` imports pkg.module as well
            found.extend(f"{target}.{alias.name}" for alias in node.names)
    return found


def violations(
    path: Path, forbidden_packages: tuple[str, ...], root: Path = SERVICES
) -> list[str]:
    bad = []
    for name in imports_of(path, root):
        top = name.split(".")[0]
        if top in IO_MODULES or any(
            name == p or name.startswith(p + ".") for p in forbidden_packages
        ):
            bad.append(name)
    return sorted(set(bad))


def sans_io_modules() -> list[tuple[str, Path]]:
    return [
        (folder, path)
        for folder in SANS_IO
        for path in sorted((SERVICES / folder).rglob("*.py"))
    ]


@pytest.mark.parametrize(
    ("folder", "path"),
    sans_io_modules(),
    ids=[str(p.relative_to(SERVICES)) for _, p in sans_io_modules()],
)
def test_sans_io_module_imports_no_io(folder: str, path: Path) -> None:
    assert violations(path, SANS_IO[folder]) == []


def test_every_sans_io_folder_exists_and_has_modules() -> None:
    for folder in SANS_IO:
        assert len(list((SERVICES / folder).rglob("*.py"))) > 1, folder


def test_the_rule_sees_local_and_relative_imports(tmp_path: Path) -> None:
    # a module shaped like a core that cheats in a function and through a relative import
    fake = tmp_path / "signalling" / "sip" / "probe.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(
        "from . import auth\n"
        "from ..glue import engine\n"
        "def f():\n"
        "    import gevent.socket\n"
        "    return gevent\n"
    )
    found = violations(fake, SANS_IO["signalling/sip"], root=tmp_path)
    assert found == [
        "gevent.socket",
        "sipsimple_services.signalling.glue",
        "sipsimple_services.signalling.glue.engine",
    ]
