import pytest

from agent.config import AgentConfig
from local import db_images

pytestmark = pytest.mark.unit


def test_production_defaults_stay_the_official_images():
    assert AgentConfig.load(env={}).db_images == {"postgres": "postgres:16", "mysql": "mysql:8", "redis": "redis:7"}


def test_an_image_that_cannot_be_pulled_is_replaced_by_the_local_one_of_its_kind():
    chosen, build = db_images.choose({"postgres": "postgres:16", "mysql": "mysql:8", "redis": "redis:7"},
                                     lambda image: image == "redis:7")
    assert chosen == {"postgres": "tahobuddy-local/postgres:15", "mysql": "tahobuddy-local/mariadb:10.11",
                      "redis": "redis:7"}
    assert sorted(build) == ["mariadb", "postgres"]


def test_the_chosen_images_reach_the_agent_through_its_setting():
    chosen, build = db_images.choose({"postgres": "postgres:16", "mysql": "mysql:8", "redis": "redis:7"},
                                     lambda image: False)
    env = {"TAHOBUDDY_DB_IMAGES": db_images.as_setting(chosen)}
    assert AgentConfig.load(env=env).db_images == db_images.LOCAL
    assert db_images.choose(db_images.LOCAL, lambda image: True) == (db_images.LOCAL, [])
