"""The MSRP core is sans-IO: no sockets, no event loop, no bus, no clock."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sipsimple_services.msrp.protocol as protocol

FOLDER = Path(protocol.__file__).parent
FORBIDDEN = {"socket", "ssl", "select", "selectors", "asyncio", "gevent", "zmq", "threading",
             "time", "datetime", "sipsimple", "msgpack"}
ALLOWED_OWN = "sipsimple_services.msrp.protocol"


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_module_of_the_core_imports_io_a_clock_or_the_service() -> None:
    modules = sorted(FOLDER.glob("*.py"))
    assert len(modules) >= 9
    for path in modules:
        for name in imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, (path.name, name)
            if top == "sipsimple_services":
                assert name.startswith(ALLOWED_OWN), (path.name, name)


def test_importing_the_core_loads_no_io_module() -> None:
    code = (
        "import sys\n"
        "import sipsimple_services.msrp.protocol.session\n"
        "import sipsimple_services.msrp.protocol.parser\n"
        "print(sorted(m for m in ('socket', 'ssl', 'select', 'selectors', 'asyncio', 'gevent',"
        " 'zmq') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"
