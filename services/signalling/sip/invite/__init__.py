"""The INVITE usage: sessions (RFC 3261 13-15) and their dialog layer."""
