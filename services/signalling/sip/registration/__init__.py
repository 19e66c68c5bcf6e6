"""The REGISTER usage (RFC 3261 10)."""
