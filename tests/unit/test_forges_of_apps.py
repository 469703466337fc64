"""An app's forge (the one webhook route that may deploy it), named or following from its
repository's host, and the hosts each forge is configured with."""
import pytest

from functions import config, providers
from functions.domain import apps, forges
from functions.errors import InvalidInput

pytestmark = pytest.mark.unit
HOSTS = config.forge_hosts({"TAHOBUDDY_GITHUB_API_URL": "https://ghe.example.com/api/v3",
                            "TAHOBUDDY_GITLAB_HOSTS": "gitlab.example.com, Git.Corp.example",
                            "TAHOBUDDY_GITEA_HOSTS": "gitea.example.com", "TAHOBUDDY_FORGEJO_HOSTS": "codeberg.org"})


def test_the_forges_are_the_providers_routes():
    assert sorted(forges.FORGES) == providers.names()


@pytest.mark.parametrize("repository, forge", [
    ("https://github.com/me/blog.git", "github"), ("git@github.com:me/blog.git", "github"), ("me/blog", "github"),
    ("https://ghe.example.com/me/blog.git", "github"), ("https://gitlab.com/g/sub/blog.git", "gitlab"),
    ("git@gitlab.example.com:g/blog.git", "gitlab"), ("ssh://git@git.corp.example:2222/g/blog.git", "gitlab"),
    ("https://gitea.example.com/me/blog", "gitea"), ("https://codeberg.org/me/blog.git", "forgejo"),
    ("https://bitbucket.example.net/me/blog.git", "github"), ("/srv/git/blog.git", "github"),
    ("file:///srv/git/blog.git", "github")])
def test_the_forge_follows_from_the_repository_host(repository, forge):
    assert forges.default(repository, HOSTS) == forge


def test_a_named_forge_wins_and_an_app_saved_before_the_field_gets_the_default():
    assert forges.of({"repository": "https://github.com/me/blog", "forge": "gitea"}, HOSTS) == "gitea"
    assert forges.of({"repository": "https://gitlab.com/me/blog"}, HOSTS) == "gitlab"


def test_a_saved_app_says_its_forge_and_an_unknown_one_is_refused():
    assert apps.validate({"name": "blog", "repository": "https://gitlab.com/me/blog.git"})["forge"] == "gitlab"
    assert apps.validate({"name": "blog", "repository": "/srv/blog.git", "forge": "forgejo"})["forge"] == "forgejo"
    with pytest.raises(InvalidInput, match="forge.*one of github, gitlab, gitea, forgejo"):
        apps.validate({"name": "blog", "repository": "me/blog", "forge": "bitbucket"})


def test_a_host_listed_for_two_forges_stops_the_settings():
    with pytest.raises(ValueError, match="TAHOBUDDY_FORGEJO_HOSTS lists git.example.com, which is already a gitea"):
        config.forge_hosts({"TAHOBUDDY_GITEA_HOSTS": "git.example.com", "TAHOBUDDY_FORGEJO_HOSTS": "git.example.com"})
