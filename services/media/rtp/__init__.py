"""The sans-IO RTP core of the media service.

`packet` (RTP headers), `rtcp` (compound RTCP), `stats` (RFC 3550 reception
and sending statistics), `dtmf` (RFC 4733 telephone events), `jitter` (the
playout buffer) and `session` (one RTP stream tying them together). Nothing
here opens a socket or reads a clock: callers pass bytes, addresses and `now`.
"""
