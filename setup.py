"""What pyproject.toml cannot say: the top-level ``migrations/`` ships as ``dialer.migrations``.

Developers edit Alembic's scripts in ``migrations/`` (env.py, versions/); installed, wheel or
editable, they are the package ``dialer.migrations`` that ``dialer.db.migrate`` locates. Every
other package is found automatically, so a new sub-package of ``dialer`` needs no change here.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["dialer", "dialer.*", "workers", "workers.*"]),
        "dialer.migrations",
        "dialer.migrations.versions",
    ],
    package_dir={"dialer.migrations": "migrations"},
)
