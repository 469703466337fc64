"""Prebuilt image references and registry settings, without a registry."""
import pytest

from agent.config import AgentConfig
from runners import image_registry as images
from runners.base import JobSpec

pytestmark = pytest.mark.unit
SHA = "0123456789abcdef0123456789abcdef01234567"


def spec(ref: str) -> JobSpec:
    return JobSpec("j1", "blog", "prod", {"type": "docker"}, "r", ref, SHA)


def test_placeholders_are_filled_from_the_jobs_commit_and_ref():
    template = "ghcr.io/me/blog:{sha}-{short_sha}-{ref_name}-{tag}"
    assert images.expand(template, spec("refs/tags/v1.2")) == f"ghcr.io/me/blog:{SHA}-0123456-v1.2-v1.2"
    assert images.expand(template, spec("refs/heads/main")) == f"ghcr.io/me/blog:{SHA}-0123456-main-"


def test_a_reference_splits_into_repository_and_tag_or_digest_with_a_registry_port():
    digest = "sha256:" + "a" * 64
    assert images.split(f"127.0.0.1:5000/blog@{digest}") == ("127.0.0.1:5000/blog", digest)
    assert images.split("127.0.0.1:5000/blog:v1") == ("127.0.0.1:5000/blog", "v1")
    assert images.split("127.0.0.1:5000/blog") == ("127.0.0.1:5000/blog", "latest")


def test_the_registry_password_is_a_secret_reference_and_resolved_per_push():
    cfg = AgentConfig.load(env={"TAHOBUDDY_API_URL": "http://a", "TAHOBUDDY_AGENT_TOKEN": "t",
                                "TAHOBUDDY_REGISTRY": "127.0.0.1:5000", "TAHOBUDDY_REGISTRY_USERNAME": "ci",
                                "TAHOBUDDY_REGISTRY_PASSWORD": "hunter2"})
    assert any("registry_password must be a secret:NAME" in p for p in cfg.check())
    cfg.registry_password = "secret:REG"
    assert cfg.check() == []
    assert images.auth(cfg, {"REG": "hunter2"}.__getitem__) == {"username": "ci", "password": "hunter2"}
    cfg.registry_username = ""
    assert images.auth(cfg, {}.__getitem__) == {}  # never the agent's stored credentials
