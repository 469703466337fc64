"""Where previews are served: a domain of their own when TAHOBUDDY_PREVIEW_DOMAIN is set, else under the
app's hostname with a warning; and the limits a rule may set for its previews."""
import pytest

from functions.config import _domain
from functions.domain import apps, preview_hosts
from functions.errors import InvalidInput

pytestmark = pytest.mark.unit

APP = {"name": "blog", "hostname": "blog.example.com",
       "rules": [{"name": "pr", "match": {"pull_request": {"base": "main"}}, "target": {"type": "docker"},
                  "preview": {"hostname": preview_hosts.DEFAULT_TEMPLATE}}]}
RULE = APP["rules"][0]


def test_with_a_preview_domain_each_preview_is_one_label_under_it():
    assert preview_hosts.hostname(APP, RULE, 7, "preview.example.net") == "blog-pr-7.preview.example.net"
    assert preview_hosts.hostname(APP, {**RULE, "preview": {}}, 7, "preview.example.net") == \
        "blog-pr-7.preview.example.net"
    assert preview_hosts.warnings(APP, "preview.example.net") == []


def test_without_it_the_old_default_stays_and_saving_warns_of_cookie_tossing():
    assert preview_hosts.hostname(APP, RULE, 7) == "pr-7.blog.example.com"
    [warning] = preview_hosts.warnings(APP)
    assert warning.startswith("rules[0].preview:") and "cookie tossing" in warning
    assert "TAHOBUDDY_PREVIEW_DOMAIN" in warning and "pr-1.blog.example.com" in warning


def test_a_rules_own_template_is_used_as_written_and_warned_of_when_under_production():
    own = {**RULE, "preview": {"hostname": "pr-{number}.previews.example.org"}}
    assert preview_hosts.hostname(APP, own, 3, "preview.example.net") == "pr-3.previews.example.org"
    assert preview_hosts.warnings({**APP, "rules": [own]}) == []
    under = {**RULE, "preview": {"hostname": "review-{number}.{hostname}"}}
    assert preview_hosts.warnings({**APP, "rules": [under]}, "preview.example.net")  # explicit, and still risky


def test_app_names_cannot_make_one_preview_look_like_another():
    a = preview_hosts.hostname({**APP, "name": "x"}, RULE, 1, "p.example.net")
    b = preview_hosts.hostname({**APP, "name": "x-pr-1"}, RULE, 1, "p.example.net")
    assert a == "x-pr-1.p.example.net" and b == "x-pr-1-pr-1.p.example.net" and a != b


def test_an_app_name_too_long_for_a_preview_label_is_refused_only_with_a_preview_domain():
    long = {**APP, "name": "a" * 60}
    assert "at most 53" in preview_hosts.long_name(long, "preview.example.net")
    assert preview_hosts.long_name(long, "") == "" and preview_hosts.long_name({**long, "rules": []}, "p.net") == ""


def test_the_preview_domain_setting_must_be_a_domain():
    assert _domain("TAHOBUDDY_PREVIEW_DOMAIN", " Preview.Example.NET. ") == "preview.example.net"
    assert _domain("TAHOBUDDY_PREVIEW_DOMAIN", "") == ""
    for bad in ("https://preview.example.net", "localhost", "*.example.net", "a..b"):
        with pytest.raises(ValueError, match="TAHOBUDDY_PREVIEW_DOMAIN"):
            _domain("TAHOBUDDY_PREVIEW_DOMAIN", bad)


def test_a_rule_may_set_its_previews_limits_and_they_are_checked():
    doc = {"name": "blog", "repository": "octo/blog", "hostname": "blog.example.com",
           "rules": [{"name": "pr", "match": {"pull_request": {"base": "main"}}, "target": {"type": "docker"},
                      "preview": {"cpus": "0.5", "memory": "256m", "pids": 100}}]}
    preview = apps.validate(doc)["rules"][0]["preview"]
    assert (preview["cpus"], preview["memory"], preview["pids"]) == ("0.5", "256m", 100)
    doc["rules"][0]["preview"] = {"memory": "1k"}
    with pytest.raises(InvalidInput) as caught:
        apps.validate(doc)
    assert caught.value.field == "rules[0].preview.memory"


def test_a_preview_jobs_target_carries_the_hostname_from_the_setting_and_the_rules_limits(monkeypatch):
    from functions.config import settings
    from functions.domain import previews
    rule = {**RULE, "preview": {"hostname": preview_hosts.DEFAULT_TEMPLATE, "memory": "256m", "pids": 64}}
    monkeypatch.setenv("TAHOBUDDY_PREVIEW_DOMAIN", "preview.example.net")
    settings.cache_clear()
    try:
        assert previews.job_rule(APP, rule, 7)["target"]["preview"] == {
            "number": 7, "hostname": "blog-pr-7.preview.example.net", "memory": "256m", "pids": 64}
    finally:
        monkeypatch.delenv("TAHOBUDDY_PREVIEW_DOMAIN")
        settings.cache_clear()
    assert previews.job_rule(APP, rule, 7)["target"]["preview"]["hostname"] == "pr-7.blog.example.com"
