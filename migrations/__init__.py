"""Alembic scripts (env.py, versions/), installed as the package ``dialer.migrations``.

Edit them here; ``setup.py`` maps this folder into the package, and ``dialer.db.migrate``
finds it through ``importlib.resources``. Alembic loads env.py and the revision files by path,
so nothing imports this package's modules.
"""
