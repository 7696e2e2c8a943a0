"""The labtwin command line: `labtwin run`, `list`, `serve`, `check`, `flash` (and `python -m labtwin`)."""
