"""Wiring the stats routes must not pull SQLAlchemy into startup (the store opens it later)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_stats_routes_leaves_sqlalchemy_unloaded() -> None:
    code = (
        "import sys, chain429.http.routes as r; r.route_table(); "
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_building_the_app_leaves_heavy_libraries_unloaded() -> None:
    """Start-up must stay under a second: SQLAlchemy and prometheus_client load later."""
    code = (
        "import sys\n"
        "from chain429.config.load import parse_config\n"
        "from chain429.http.app import create_app\n"
        "create_app(parse_config('version: 1', {}))\n"
        "for name in ('sqlalchemy', 'prometheus_client'):\n"
        "    assert name not in sys.modules, name + ' imported at start-up'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
