"""The README's call example runs as written, against the real services."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

README = Path(__file__).parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_call_example_connects_and_ends(supervised: Path) -> None:
    [example] = [block for block in python_blocks() if "Session(alice)" in block]
    result = subprocess.run([sys.executable, "-c", example], env=dict(os.environ),
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "connected: " in result.stdout, result.stdout + result.stderr[-3000:]
    assert "SIPSessionDidEnd" in result.stdout and "'end_reason': 'user_request'" in (
        result.stdout)
