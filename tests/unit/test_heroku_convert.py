"""heroku_convert: the container release's requests and registry names as plain values."""
import pytest

from runners import heroku_convert as hc

pytestmark = pytest.mark.unit
IMAGE = "sha256:" + "ab" * 32


def test_release_image_is_the_documented_formation_update_under_the_docker_releases_accept():
    req = hc.release_image("my-app", "web", IMAGE)
    assert (req.method, req.path) == ("PATCH", "/apps/my-app/formation")
    assert req.body == {"updates": [{"type": "web", "docker_image": IMAGE}]}
    assert req.accept == "application/vnd.heroku+json; version=3.docker-releases"
    sent = hc.headers("hk-key", req.accept, req.range)
    assert sent["Accept"] == req.accept and sent["Authorization"] == "Bearer hk-key" and "Range" not in sent


def test_every_other_request_keeps_the_plain_accept_and_the_newest_release_is_asked_by_range():
    newest = hc.newest_release("my app")
    assert (newest.method, newest.path, newest.accept) == ("GET", "/apps/my%20app/releases", hc.ACCEPT)
    assert hc.headers("k", newest.accept, newest.range)["Range"] == "version ..; max=1, order=desc"
    info = hc.release_info("my-app", "01234567-89ab")
    assert (info.method, info.path, info.accept, info.body) == ("GET", "/apps/my-app/releases/01234567-89ab",
                                                                hc.ACCEPT, None)
    assert hc.create_source().accept == hc.ACCEPT


def test_registry_names_and_credentials():
    assert hc.image_repository("registry.heroku.com", "my-app", "web") == "registry.heroku.com/my-app/web"
    assert hc.image_repository("127.0.0.1:5000/", "my-app", "worker") == "127.0.0.1:5000/my-app/worker"
    assert hc.registry_auth("hk-key") == {"username": "_", "password": "hk-key"}
    with pytest.raises(ValueError, match="process_type 'Web' cannot name a registry repository: use lowercase"):
        hc.image_repository("registry.heroku.com", "my-app", "Web")
    with pytest.raises(ValueError, match="app '' cannot name"):
        hc.image_repository("registry.heroku.com", "", "web")


@pytest.mark.parametrize("registry, url", [
    ("registry.heroku.com", "https://registry.heroku.com/v2/my-app/web/manifests/latest"),
    ("127.0.0.1:5000", "http://127.0.0.1:5000/v2/my-app/web/manifests/latest"),
    ("localhost:5000", "http://localhost:5000/v2/my-app/web/manifests/latest"),
    ("127.example.com", "https://127.example.com/v2/my-app/web/manifests/latest"),
    ("[::1]:5000", "http://[::1]:5000/v2/my-app/web/manifests/latest"),
])
def test_manifest_url_is_plain_http_only_on_loopback(registry, url):
    assert hc.manifest_url(registry, "my-app", "web") == url


def test_image_id_is_the_schema2_manifests_config_digest():
    manifest = {"schemaVersion": 2, "mediaType": hc.MANIFEST_V2,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": IMAGE},
                "layers": []}
    assert hc.image_id(manifest) == IMAGE


@pytest.mark.parametrize("manifest, words", [
    ({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []},
     "holds a application/vnd.oci.image.index.v1\\+json manifest"),
    ({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json"},
     "without provenance attestations"),
    ({"schemaVersion": 1, "history": []}, "holds a schema 1 manifest"),
    ({"schemaVersion": 2, "mediaType": hc.MANIFEST_V2, "config": {"digest": "sha256:short"}},
     "is not a sha256 image id"),
])
def test_anything_but_a_single_schema2_manifest_is_refused_with_the_reason(manifest, words):
    with pytest.raises(ValueError, match=words):
        hc.image_id(manifest)
