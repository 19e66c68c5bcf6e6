"""The `sipsimple` command line (click)."""
