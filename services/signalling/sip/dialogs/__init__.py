"""Dialogs (RFC 3261 12) and the Replaces helpers (RFC 3891)."""
