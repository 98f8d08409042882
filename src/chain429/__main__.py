"""`python -m chain429` is the `429chain` command."""

from chain429.cli import main

raise SystemExit(main())
