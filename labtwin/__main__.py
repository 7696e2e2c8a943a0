"""``python -m labtwin``: the same command line as the ``labtwin`` script."""

from labtwin.cli.main import main

raise SystemExit(main())
