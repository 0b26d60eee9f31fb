"""The `nautilus-streams` command line: one module per command group."""
