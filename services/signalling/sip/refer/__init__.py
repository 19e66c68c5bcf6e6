"""The REFER usage (RFC 3515) inside INVITE dialogs."""
