"""Sessions: `Session`, `SessionManager`, the transfer types and the ConferenceHandler."""

from sipsimple.session.conference import ConferenceHandler
from sipsimple.session.manager import SessionManager
from sipsimple.session.session import Session
from sipsimple.session.states import IllegalStateError
from sipsimple.session.transfer import TransferHandler, TransferInfo

__all__ = ["ConferenceHandler", "IllegalStateError", "Session", "SessionManager",
           "TransferHandler", "TransferInfo"]
