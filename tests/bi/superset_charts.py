"""Ask a Superset for every chart's data through its REST API, as a client would; run by Superset's own Python.

    python superset_charts.py OUTPUT.json

Logs in as SUPERSET_ADMIN_USER with SUPERSET_ADMIN_PASSWORD (API login: a JWT), lists the charts, reads each
chart's stored query_context and posts it to /api/v1/chart/data, in Superset's Flask test client (the same
application and API a server would run, without a port). Writes {chart uuid: {"title", "status", "response"}}.
"""

from __future__ import annotations

import json
import os
import sys


def main(output: str) -> int:
    from superset.app import create_app

    app = create_app()
    out: dict[str, object] = {}
    with app.test_client() as client:
        login = client.post(
            "/api/v1/security/login",
            json={
                "username": os.environ.get("SUPERSET_ADMIN_USER", "admin"),
                "password": os.environ["SUPERSET_ADMIN_PASSWORD"],
                "provider": "db",
                "refresh": False,
            },
        )
        assert login.status_code == 200, login.get_data(as_text=True)
        headers = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
        listing = client.get("/api/v1/chart/?q=(columns:!(id,uuid,slice_name),page_size:100)", headers=headers)
        assert listing.status_code == 200, listing.get_data(as_text=True)
        for row in listing.get_json()["result"]:
            chart = client.get(f"/api/v1/chart/{row['id']}", headers=headers).get_json()["result"]
            stored = chart.get("query_context")
            if not stored:
                out[row["uuid"]] = {"title": row["slice_name"], "status": None, "response": "no query_context"}
                continue
            answer = client.post("/api/v1/chart/data", json=json.loads(stored), headers=headers)
            out[row["uuid"]] = {
                "title": row["slice_name"],
                "status": answer.status_code,
                "query_context": json.loads(stored),
                "response": answer.get_json(),
            }
    with open(output, "w") as file:
        json.dump(out, file, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
