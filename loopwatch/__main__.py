"""``python -m loopwatch``: the same command as the ``loopwatch`` console script."""

from loopwatch.cli import main

raise SystemExit(main())
