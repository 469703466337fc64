"""The pure parts of an app's output: Docker's time stamps, which containers serve, `--since` durations."""
import pytest

from cli.app_logs import since_seconds
from cli.client import ApiError
from runners.docker_output import Serving, serving, split_stamp, started_at

pytestmark = pytest.mark.unit


def test_a_docker_stamp_is_split_off_with_its_nanoseconds():
    at, text = split_stamp("2026-12-05T08:00:01.123456789Z GET / 200 took 3 ms")
    assert text == "GET / 200 took 3 ms" and at == pytest.approx(1796457601.123456789, abs=1e-6)
    assert split_stamp("2026-12-05T08:00:01Z ") == (1796457601.0, "")
    assert split_stamp("no stamp here") == (None, "no stamp here")
    assert started_at({"StartedAt": "2026-12-05T08:00:01.5Z"}) == pytest.approx(1796457601.5)
    assert started_at({"StartedAt": "0001-01-01T00:00:00Z"}) < 0 and started_at({}) == 0.0


def test_only_this_installations_running_app_containers_serve():
    rows = [{"id": "a", "labels": {"tahobuddy.app": "blog", "tahobuddy.role": "app", "tahobuddy.installation": "mine"}},
            {"id": "b", "labels": {"tahobuddy.app": "blog", "tahobuddy.role": "app", "tahobuddy.preview": "7",
                                   "tahobuddy.installation": "mine"}},
            {"id": "c", "labels": {"tahobuddy.app": "blog", "tahobuddy.role": "app", "tahobuddy.installation": "other"}},
            {"id": "d", "labels": {"tahobuddy.app": "blog", "tahobuddy.role": "run"}},
            {"id": "e", "labels": {"tahobuddy.app": "blog", "tahobuddy.role": "database"}},
            {"id": "f", "labels": {"tahobuddy.app": "old", "tahobuddy.role": "app"}},   # before the installation label
            {"id": "g", "labels": {"tahobuddy.role": "app"}}]
    assert serving(rows, "mine") == [Serving("a", "blog", 0), Serving("b", "blog", 7), Serving("f", "old", 0)]


def test_since_takes_seconds_minutes_hours_and_days():
    assert [since_seconds(x) for x in ("", None, "90", "30s", "10m", "2h", "1d")] == [0, 0, 90, 30, 600, 7200, 86400]
    with pytest.raises(ApiError, match="give a duration like 30s"):
        since_seconds("ten minutes")


def test_the_secret_values_of_a_container_are_read_from_the_variables_its_label_names():
    from runners.docker_output import secret_values
    labels = {"tahobuddy.secret_env": "API_TOKEN,DATABASE_URL"}
    env = ["PORT=8080", "API_TOKEN=s3cr3t", "DATABASE_URL=postgres://app:p%40ss@db:5432/app", "EMPTY="]
    assert secret_values(labels, env) == ["s3cr3t", "postgres://app:p%40ss@db:5432/app", "p@ss"]
    assert secret_values({}, env) == []
