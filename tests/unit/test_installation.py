"""The installation id: how an agent names its installation, and the labels and filters that keep two
installations' previews on one Docker Engine apart. Pure functions."""
import hashlib

import pytest

from agent.config import AgentConfig
from contract.wire import ClaimAnswer
from runners import docker_convert as convert
from runners.base import JobSpec

pytestmark = pytest.mark.unit
SHA = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"


def preview_spec(installation="staging"):
    return JobSpec("j1", "blog", "previews", {"type": "docker", "preview": {"number": 7}}, "repo",
                   "refs/pull/7/head", SHA, trigger="preview", installation=installation)


def test_the_default_installation_is_a_stable_digest_of_the_api_url():
    one = AgentConfig.load(env={"TAHOBUDDY_API_URL": "https://api.example.com/"})
    same = AgentConfig.load(env={"TAHOBUDDY_API_URL": "https://api.example.com"})
    other = AgentConfig.load(env={"TAHOBUDDY_API_URL": "https://staging.example.com"})
    expected = hashlib.sha256(b"https://api.example.com").hexdigest()[:12]
    assert one.resolved_installation() == same.resolved_installation() == expected
    assert other.resolved_installation() != expected
    named = AgentConfig.load(env={"TAHOBUDDY_API_URL": "https://api.example.com", "TAHOBUDDY_INSTALLATION": "prod"})
    assert named.resolved_installation() == "prod"


def test_a_bad_installation_name_is_refused_with_what_to_write():
    base = {"TAHOBUDDY_API_URL": "http://127.0.0.1:1", "TAHOBUDDY_AGENT_TOKEN": "t"}
    assert AgentConfig.load(env={**base, "TAHOBUDDY_INSTALLATION": "home-server_2.prod"}).check() == []
    problems = AgentConfig.load(env={**base, "TAHOBUDDY_INSTALLATION": "prod stack"}).check()
    assert len(problems) == 1 and "A-Z a-z 0-9 _ . -" in problems[0] and "TAHOBUDDY_INSTALLATION" in problems[0]


def test_a_claim_carries_the_agents_installation_into_the_job():
    claim = ClaimAnswer(run=True, state="running", job={"id": "j1", "app": "blog", "rule": "r", "repository": "repo",
                                                        "ref": "refs/tags/v1", "target": {"type": "docker"}})
    assert JobSpec.from_claim(claim, "prod").installation == "prod"
    assert JobSpec.from_claim(claim).installation == ""


def test_everything_a_preview_makes_is_stamped_with_the_installation():
    spec = preview_spec()
    stamp = {"tahobuddy.app": "blog", "tahobuddy.preview": "7", "tahobuddy.installation": "staging"}
    assert convert.preview_labels("blog", 7, "staging") == stamp
    assert convert.preview_filter("blog", 7, "staging") == [
        "tahobuddy.app=blog", "tahobuddy.preview=7", "tahobuddy.installation=staging"]
    assert stamp.items() <= convert.labels(spec).items()                                    # image, container
    assert stamp.items() <= convert.run_kwargs(convert.preview_spec(spec), "img", {})["labels"].items()
    assert stamp.items() <= convert.database_kwargs("blog", "postgres", "pg", "pw", 7, "staging")["labels"].items()
    argv = convert.buildkit_argv(spec, "src", "scratch/image-id")
    labels = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--label"]
    assert "tahobuddy.installation=staging" in labels and "tahobuddy.preview=7" in labels


def test_without_an_installation_nothing_extra_is_stamped():
    assert convert.preview_labels("blog", 7) == {"tahobuddy.app": "blog", "tahobuddy.preview": "7"}
    assert convert.preview_filter("blog", 0) == ["tahobuddy.app=blog"]
    assert "tahobuddy.installation" not in convert.labels(preview_spec(installation=""))


def test_the_reconciler_tells_its_own_previews_from_others_and_from_unlabelled_ones():
    assert convert.owner({"tahobuddy.preview": "7", "tahobuddy.installation": "prod"}, "prod") == "own"
    assert convert.owner({"tahobuddy.preview": "7", "tahobuddy.installation": "staging"}, "prod") == "other"
    assert convert.owner({"tahobuddy.preview": "7"}, "prod") == "unlabelled"
    assert convert.owner({"tahobuddy.preview": "7", "tahobuddy.installation": ""}, "prod") == "unlabelled"
    assert convert.owner(None, "prod") == "unlabelled"


def test_the_apps_image_pruning_keeps_previews_and_other_installations_images():
    mine, theirs = {convert.INSTALLATION: "aaa"}, {convert.INSTALLATION: "bbb"}
    assert convert.prunable({"tahobuddy.app": "web", **mine}, 0, "aaa")
    assert convert.prunable({"tahobuddy.app": "web"}, 0, "aaa")          # built before the label: as before
    assert not convert.prunable({"tahobuddy.app": "web", **theirs}, 0, "aaa")
    assert not convert.prunable({"tahobuddy.app": "web", "tahobuddy.preview": "7", **mine}, 0, "aaa")
    assert convert.prunable({"tahobuddy.app": "web", "tahobuddy.preview": "7", **mine}, 7, "aaa")
    assert not convert.prunable({"tahobuddy.app": "web", "tahobuddy.preview": "7", **theirs}, 7, "aaa")
