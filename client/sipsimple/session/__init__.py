"""Sessions: `Session`, `SessionManager` and the transfer types of the Middleware API."""

from sipsimple.session.manager import SessionManager
from sipsimple.session.session import Session
from sipsimple.session.states import IllegalStateError
from sipsimple.session.transfer import TransferHandler, TransferInfo

__all__ = ["IllegalStateError", "Session", "SessionManager", "TransferHandler", "TransferInfo"]
