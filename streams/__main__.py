"""`python -m streams` is the same as the `nautilus-streams` command."""

from streams.cli.main import main

raise SystemExit(main())
