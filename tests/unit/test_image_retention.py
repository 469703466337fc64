"""Which of an app's registry images keep_images deletes, without a registry: never one a release or an open
preview serves, never one whose age is unknown, and never the newest `keep_images`."""
import pytest

from runners import distribution, image_retention as retention

pytestmark = pytest.mark.unit
D = {n: "sha256:" + (str(n) * 64)[:64] for n in range(1, 8)}


def test_all_but_the_newest_are_deleted_oldest_first():
    dated = {D[1]: 100.0, D[2]: 200.0, D[3]: 300.0, D[4]: 400.0}
    assert retention.choose(dated, set(), 2) == [D[1], D[2]]
    assert retention.choose(dated, set(), 4) == []
    assert retention.choose(dated, set(), 0) == [D[1], D[2], D[3]]  # keep_images 0 still keeps what serves


def test_a_digest_a_release_or_preview_serves_is_kept_however_old():
    dated = {D[1]: 100.0, D[2]: 200.0, D[3]: 300.0, D[4]: 400.0, D[5]: 500.0}
    keep = retention.protected([{"digest": f"127.0.0.1:5000/blog@{D[2]}"}, {"image": "sha256:local-only"}],
                               [f"127.0.0.1:5000/blog@{D[1]}"])
    assert keep == {D[1], D[2]}
    assert retention.choose(dated, keep, 1) == [D[3], D[4]]


def test_a_promoted_digest_is_kept_whichever_registry_the_release_recorded():
    keep = retention.protected([{"digest": f"other.example:5000/blog@{D[3]}"}], [])
    assert retention.choose({D[3]: 1.0, D[4]: 2.0}, keep, 1) == []


def test_an_image_of_unknown_age_counts_as_new():
    dated = {D[1]: None, D[2]: 200.0, D[3]: 300.0}
    assert retention.choose(dated, set(), 2) == [D[2]]


def test_created_reads_rfc3339_with_nanoseconds_and_offsets():
    assert distribution.created_at("1970-01-01T00:00:10Z") == 10.0
    assert distribution.created_at("1970-01-01T00:00:10.123456789Z") == pytest.approx(10.123456789)
    assert distribution.created_at("1970-01-01T01:00:10+01:00") == 10.0
    assert distribution.created_at("yesterday") is None and distribution.created_at(None) is None
    # the same second: the fraction orders them, where a string comparison would not
    assert distribution.created_at("2026-01-01T00:00:00.5Z") > distribution.created_at("2026-01-01T00:00:00Z")


def test_a_loopback_registry_is_plain_http_and_its_path_prefixes_the_repository():
    local = distribution.Distribution("127.0.0.1:5000", {})
    assert (local.base, local.name("blog")) == ("http://127.0.0.1:5000", "blog")
    ghcr = distribution.Distribution("ghcr.io/me", {"username": "me", "password": "p"})
    assert (ghcr.base, ghcr.name("blog"), ghcr.basic) == ("https://ghcr.io", "me/blog", ("me", "p"))


def test_cache_tags_are_not_releases_and_the_current_cache_images_are_never_chosen():
    """Two releases and two stages' cache images, keep_images 1: only the older release goes; the cache images
    the cache tags point at are neither counted nor chosen."""
    images, cache = retention.classify({"aaaaaaaaaaaa": D[1], "bbbbbbbbbbbb": D[2], "cache-deps": D[3],
                                        "cache-build": D[4], "also-on-cache": D[4]})
    assert cache == {D[3]: "cache-deps", D[4]: "cache-build"}
    assert set(images) == {D[1], D[2]}
    assert retention.choose({D[1]: 100.0, D[2]: 200.0}, set(), 1) == [D[1]]


def test_a_superseded_cache_image_goes_unless_a_tag_or_a_release_still_holds_it():
    tagged = {D[3], D[4]}  # what the tags point at now (the new cache images, the releases)
    assert retention.stale_cache([D[5], D[3], D[6], D[5], ""], tagged, {D[6]}) == [D[5]]
