"""NAT traversal for audio, sans-IO: STUN (RFC 8489), TURN (RFC 8656), ICE (RFC 8445).

Datagrams and the time go in; datagrams to send, deadlines and events come
out. Nothing here opens a socket or reads a clock: the media service's RTP
sockets carry the checks (RFC 7983 demultiplexing, `demux`), and the caller
calls `handle_timeout(now)` at `next_deadline()`. See docs/nat.md.
"""
