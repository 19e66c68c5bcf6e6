"""Accounts: ``AccountManager`` (the singleton that loads and tracks them) and ``Account``.

An ``Account`` is the per-account settings object (``AccountSettings``) plus its
runtime state: while the manager runs, an enabled account with ``sip.register``
registers through the signalling service (see ``registration``).
"""

from __future__ import annotations

from .account import Account, Credentials
from .manager import AccountManager
from .registration import AccountRegistrar

__all__ = ["Account", "AccountManager", "AccountRegistrar", "Credentials"]
