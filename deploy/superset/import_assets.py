"""Import QualityPulse's Superset assets (``qp superset-assets``) into a Superset, replacing earlier versions.

Run by Superset's own Python, after ``superset db upgrade`` and ``superset init``:

    python import_assets.py ASSETS_DIR

``QP_SUPERSET_WAREHOUSE_URI`` is the warehouse's SQLAlchemy URI through the read-only BI role, password included
(it comes from the environment, never from a file, and is never printed); ``SUPERSET_ADMIN_USER`` (admin) owns what
is imported. Unlike ``superset import-dashboards``, which keeps a dataset or chart that exists, this replaces every
asset by its file (Superset's asset import), so a regenerated metric or chart reaches a running Superset.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml


def bundle(folder: Path, warehouse_uri: str) -> dict[str, str]:
    """The asset files as Superset's importer reads them, the database's URI set to ``warehouse_uri``."""
    contents = {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.yaml"))}
    for name in [n for n in contents if n.startswith("databases/")]:
        config = yaml.safe_load(contents[name])
        config["sqlalchemy_uri"] = warehouse_uri
        contents[name] = yaml.safe_dump(config, sort_keys=False)
    return contents


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[1])
    uri = os.environ.get("QP_SUPERSET_WAREHOUSE_URI")
    if not uri:
        print("set QP_SUPERSET_WAREHOUSE_URI to the warehouse's URI through the BI role", file=sys.stderr)
        return 2

    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.utils.core import override_user

        user = security_manager.find_user(username=os.environ.get("SUPERSET_ADMIN_USER", "admin"))
        if user is None:
            print("no Superset admin user: run superset fab create-admin first", file=sys.stderr)
            return 1
        contents = bundle(folder, uri)
        with override_user(user):
            ImportAssetsCommand(contents).run()
    kinds = ("databases", "datasets", "charts", "dashboards")
    counts = ", ".join(f"{sum(n.startswith(k + '/') for n in contents)} {k}" for k in kinds)
    print(f"imported {counts} from {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
