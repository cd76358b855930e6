"""A real WordPress on loopback for tests, started with `scripts/wordpress-test-server.sh`.

The `wordpress_site` and `wordpress_pretty_site` fixtures (session-scoped) skips with the reason when PHP, WordPress or MariaDB
are missing, unless CI=true, where a missing service is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "wordpress-test-server.sh"


@dataclass
class WordPressSite:
    """A running test site and an authenticated REST helper."""

    url: str
    user: str
    password: str

    def rest(self, method: str, route: str, **params: Any) -> Any:
        """Call `?rest_route=` as the admin; JSON answer (raises on HTTP errors)."""
        body = params.pop("json", None)
        response = requests.request(method, f"{self.url}/", params={"rest_route": route, **params},
                                    json=body, auth=(self.user, self.password), timeout=30)
        response.raise_for_status()
        return response.json()

    def posts(self, **params: Any) -> list[dict[str, Any]]:
        """All posts in any status (trash included), edit context."""
        return self.rest("GET", "/wp/v2/posts", status="publish,future,draft,pending,private,trash",
                         context="edit", per_page=100, **params)


def _unavailable() -> str | None:
    if not shutil.which("php"):
        return "PHP is not installed (apt-get install php-cli php-mysql; see scripts/wordpress-test-server.sh)"
    if not Path("/usr/share/wordpress/wp-settings.php").exists():
        return "Debian's wordpress package is not installed (see scripts/wordpress-test-server.sh)"
    if not shutil.which("mariadb"):
        return "the mariadb client is not installed"
    probe = subprocess.run(["mariadb", "--no-defaults", "--protocol=TCP", "-h127.0.0.1", "-P3306", "-uroot",
                            "-e", "SELECT 1"], capture_output=True, text=True)
    if probe.returncode:
        return f"MariaDB is not reachable at 127.0.0.1:3306 as root: {probe.stderr.strip()}"
    return None


@contextmanager
def running_site(directory: Path, *, pretty_permalinks: bool = False) -> Iterator[WordPressSite]:
    """Start a fresh site (own docroot and database) in `directory`; skip or fail if impossible."""
    reason = _unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"WordPress tests need a local WordPress: {reason}")
        pytest.skip(reason)
    env = {**os.environ, "WP_TEST_DIR": str(directory), "WP_TEST_DB": f"feedrelay_wp_{uuid.uuid4().hex[:12]}",
           "WP_TEST_PRETTY_PERMALINKS": "1" if pretty_permalinks else "0"}
    started = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=600)
    if started.returncode:
        pytest.fail(f"scripts/wordpress-test-server.sh start failed:\n{started.stderr}")
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    try:
        yield WordPressSite(values["WP_URL"], values["WP_USER"], values["WP_APP_PASSWORD"].strip("'"))
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def wordpress_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPressSite]:
    """A WordPress with plain permalinks: only `?rest_route=` reaches the REST API."""
    with running_site(tmp_path_factory.mktemp("wordpress")) as site:
        yield site


@pytest.fixture(scope="session")
def wordpress_pretty_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPressSite]:
    """A WordPress with pretty permalinks: `/wp-json/` works."""
    with running_site(tmp_path_factory.mktemp("wordpress-pretty"), pretty_permalinks=True) as site:
        yield site
