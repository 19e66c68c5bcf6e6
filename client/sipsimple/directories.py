"""Where sipsimple keeps its files: the XDG base directories, in one place.

- configuration: ``$SIPSIMPLE_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/sipsimple``,
  else ``~/.config/sipsimple``
- state (logs, traces, recordings): ``$SIPSIMPLE_STATE_DIR``, else
  ``$XDG_STATE_HOME/sipsimple``, else ``~/.local/state/sipsimple``

(The runtime directory, which holds the bus sockets, is
`sipsimple.bus.endpoints.runtime_dir`.) As the XDG Base Directory
specification says, a relative path in an ``XDG_*`` variable is ignored. Nothing
here creates a directory: callers decide whether and with which mode.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CONFIG_ENV", "STATE_ENV", "config_dir", "config_file", "state_home", "xdg_home"]

CONFIG_ENV = "SIPSIMPLE_CONFIG_DIR"
STATE_ENV = "SIPSIMPLE_STATE_DIR"


def xdg_home(variable: str, default: str) -> Path:
    """``$variable`` when it is an absolute path, else ``~/default``."""
    value = os.environ.get(variable)
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default


def config_dir() -> Path:
    """The configuration directory (``sipsimple config``, the services' stored settings)."""
    if value := os.environ.get(CONFIG_ENV):
        return Path(value).expanduser()
    return xdg_home("XDG_CONFIG_HOME", ".config") / "sipsimple"


def config_file() -> Path:
    """The stored configuration: ``config`` in the configuration directory."""
    return config_dir() / "config"


def state_home() -> Path:
    """The state directory: logs (``logs/``), the SIP trace, recordings."""
    if value := os.environ.get(STATE_ENV):
        return Path(value).expanduser()
    return xdg_home("XDG_STATE_HOME", ".local/state") / "sipsimple"
