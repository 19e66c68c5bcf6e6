"""The SUBSCRIBE/NOTIFY usage (RFC 6665): subscriber, notifier and their layer."""
