"""docker-compose.yml: PostgreSQL, two `watchpost serve` replicas of the Dockerfile's
image configured only with variables Watchpost reads, and one proxy publishing one port,
so `--scale watchpost=N` works. (No Docker engine runs the tests: this checks the file,
not the containers.)"""

from __future__ import annotations

import re

import yaml

from tests.e2e.environment import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
CONFIG = (REPO / "bot" / "config.py").read_text()


def test_compose_runs_two_replicas_on_one_postgresql() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"db", "watchpost", "proxy"}
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


def test_compose_scales_behind_one_published_port() -> None:
    services = COMPOSE["services"]
    bot = services["watchpost"]
    assert "ports" not in bot and bot["expose"] == ["3000"]  # replicas never fight over a host port
    assert bot["environment"]["WATCHPOST_HOST"] == "0.0.0.0"
    (published,) = services["proxy"]["ports"]
    assert re.fullmatch(r"(\$\{WATCHPOST_PUBLIC_PORT:-3000\}|\d+):3000", published), published
    assert "watchpost:3000" in services["proxy"]["command"]
    assert [name for name, service in services.items() if "ports" in service] == ["proxy"]
    assert "--scale watchpost=3" in (REPO / "docker-compose.yml").read_text()
