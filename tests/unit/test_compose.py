"""docker-compose.yml: PostgreSQL and two `watchpost serve` replicas of the Dockerfile's
image, configured only with variables Watchpost reads. (No Docker engine runs the tests:
this checks the file, not the containers.)"""

from __future__ import annotations

import re

import yaml

from tests.e2e.environment import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
CONFIG = (REPO / "bot" / "config.py").read_text()


def test_compose_runs_two_replicas_on_one_postgresql() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"db", "watchpost"}
    assert services["db"]["image"].startswith("postgres:")
    bot = services["watchpost"]
    assert (REPO / bot["build"]["context"] / bot["build"]["dockerfile"]).is_file()
    assert bot["deploy"]["replicas"] == 2
    assert bot["command"] == ["serve"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert re.fullmatch(r"postgresql://watchpost:.*@db:5432/watchpost", bot["environment"]["DATABASE_URL"])


def test_compose_sets_only_variables_watchpost_reads() -> None:
    for name in COMPOSE["services"]["watchpost"]["environment"]:
        assert f'"{name}"' in CONFIG, f"{name} is not read by bot/config.py"
