"""The msrp service's bus side: methods, ownership, events (see docs/msrp.md)."""
