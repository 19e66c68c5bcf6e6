"""Files installed with the package (supervisord.conf: a link to the one at the repository root)."""
