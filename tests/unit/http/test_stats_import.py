"""Wiring the stats routes must not pull SQLAlchemy into startup (the store opens it later)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_stats_routes_leaves_sqlalchemy_unloaded() -> None:
    code = (
        "import sys, chain429.http.stats_api as s; s.routes(); "
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
