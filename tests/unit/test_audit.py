import pytest

from functions.store import audit, tokens
from functions.errors import InvalidInput

pytestmark = pytest.mark.unit

RULE = {"name": "dev", "match": {"branch": "dev"}, "target": {"type": "docker"}}


def test_app_diff_names_fields_and_rules():
    before = {"name": "a", "hostname": "x", "port": 80, "rules": [RULE, {**RULE, "name": "old"}]}
    after = {"name": "a", "port": 81, "env": {"K": "v"},
             "rules": [{**RULE, "match": {"branch": "main"}}, {**RULE, "name": "new"}]}
    diff = audit.app_diff(before, after)
    assert diff == {"fields": ["env", "hostname", "port"],
                    "rules": {"added": ["new"], "removed": ["old"], "changed": ["dev"]}}
    assert audit.summary(diff) == "env, hostname, port changed; rule new added; rule old removed; rule dev changed"
    assert audit.app_diff(before, before) == {}


@pytest.mark.parametrize("given, seconds", [("30d", 2592000), ("12h", 43200), ("45m", 2700), ("90s", 90),
                                            ("3600", 3600), (60, 60), ("2w", 1209600), (None, None), ("", None)])
def test_token_lifetimes(given, seconds):
    assert tokens.ttl_seconds(given) == seconds


@pytest.mark.parametrize("given", ["soon", "0", 0, "-1d", "1y", "5000w", True, 1.5])
def test_bad_token_lifetimes_are_refused(given):
    with pytest.raises(InvalidInput) as err:
        tokens.ttl_seconds(given)
    assert err.value.field == "expires_in"
