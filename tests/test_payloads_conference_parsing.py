"""sipsimple.payloads.conference.parsing: documents that are not conference-info."""

from __future__ import annotations

import pytest

from sipsimple.payloads import ParserError
from sipsimple.payloads.conference import Conference, ConferenceParseError


@pytest.mark.parametrize(
    "body",
    [
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info'/>",
        b"<conference-info entity='sip:c@x'/>",  # no namespace
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x' "
        b"state='half'/>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x' "
        b"version='-1'/>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x' "
        b"version='4294967296'/>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user/></users></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user entity='u'><endpoint/></user></users></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user entity='u'><endpoint entity='e'><media/></endpoint></user></users>"
        b"</conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-state><user-count>many</user-count></conference-state></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-state><active>yes</active></conference-state></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-description><conf-uris><entry/></conf-uris></conference-description>"
        b"</conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<users><user entity='u'><endpoint entity='e'><joining-info><when>noon</when>"
        b"</joining-info></endpoint></user></users></conference-info>",
        b"<conference-info xmlns='urn:ietf:params:xml:ns:conference-info' entity='sip:c@x'>"
        b"<conference-description><available-media><entry/></available-media>"
        b"</conference-description></conference-info>",
        b"<users xmlns='urn:ietf:params:xml:ns:conference-info'/>",
    ],
)
def test_invalid_documents(body: bytes) -> None:
    with pytest.raises(ConferenceParseError):
        Conference.parse(body)


def test_errors_are_payload_errors() -> None:
    assert issubclass(ConferenceParseError, ParserError)
