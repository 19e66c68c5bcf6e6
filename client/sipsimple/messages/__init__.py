"""Page-mode instant messages (SIP MESSAGE, RFC 3428).

`Message` sends one (also importable as ``sipsimple.core.Message``, where the
original SDK had it); `MessageManager` takes the incoming ones for this
client's accounts and posts ``SIPEngineGotMessage`` /
``SIPEngineGotComposingIndication`` before answering 200. See docs/messages.md.
"""

from sipsimple.messages.content import DEFAULT_ACCEPTED_TYPES
from sipsimple.messages.incoming import MessageManager
from sipsimple.messages.outgoing import Message

__all__ = ["DEFAULT_ACCEPTED_TYPES", "Message", "MessageManager"]
