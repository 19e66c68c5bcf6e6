"""SIP trace records: the event payload and the trace file."""

from __future__ import annotations

import stat
from pathlib import Path

from sipsimple_services.signalling.bus.trace import TraceFile, event_data, format_entry
from sipsimple_services.signalling.glue.engine import TraceRecord

RECORD = TraceRecord("out", "UDP", "127.0.0.1:5060", "[::1]:5070",
                     b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n", 1700000000.5)


def test_event_data() -> None:
    assert event_data(RECORD) == {
        "direction": "out", "transport": "UDP", "source": "127.0.0.1:5060",
        "destination": "[::1]:5070", "message": RECORD.data.decode(),
        "timestamp": 1700000000.5,
    }
    bad = TraceRecord("in", "TCP", "a", "b", b"\xff\xfe", 0.0)
    assert event_data(bad)["message"] == "\ufffd\ufffd"


def test_format_entry() -> None:
    entry = format_entry(RECORD)
    first, *rest = entry.splitlines()
    assert first.endswith(" out UDP 127.0.0.1:5060 -> [::1]:5070 (46 bytes)")
    assert rest == ["OPTIONS sip:a@b SIP/2.0", "Content-Length: 0", "", "--"]


def test_trace_file(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "sip_trace.log"
    trace = TraceFile(path)
    assert not path.exists()  # opened on first write
    trace.write(RECORD)
    trace.write(RECORD)
    trace.close()
    assert path.read_text().count("OPTIONS sip:a@b SIP/2.0") == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    TraceFile(tmp_path / "logs").write(RECORD)  # a directory: logged, not raised
