"""Notification entries, bodies and the Standard Webhooks signature (checked with the
`standardwebhooks` library's own verify)."""
import json
import re
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from functions.errors import InvalidInput
from functions.domain import notifications
from functions.notify import channels

pytestmark = pytest.mark.unit

CHANGE = {"job_id": "J1", "app": "blog", "rule": "release", "state": "failed", "reason": "exit 3",
          "reason_code": "", "ref": "refs/tags/v1.2", "sha": "c0ffee" + "0" * 34, "repo": "octo/blog"}


def test_entries_are_checked_and_get_default_states():
    got = notifications.validate([{"type": "slack", "url": "secret:SLACK"},
                                  {"type": "webhook", "url": "secret:HOOK", "secret": "secret:HOOK_KEY",
                                   "states": ["running", "succeeded"]}])
    assert got[0]["states"] == ["succeeded", "failed"] and got[1]["states"] == ["running", "succeeded"]
    assert notifications.wanted({"notify": got}, "running") == [got[1]]


@pytest.mark.parametrize("entry, field, words", [
    ({"type": "email", "url": "secret:X"}, "notify[0].type", "slack, discord, webhook"),
    ({"type": "slack", "url": "https://hooks.slack.com/x"}, "notify[0].url", "secret:"),
    ({"type": "webhook", "url": "secret:X"}, "notify[0].secret", "signed"),
    ({"type": "discord", "url": "secret:X", "secret": "secret:Y"}, "notify[0].secret", "only a webhook"),
    ({"type": "slack", "url": "secret:X", "states": ["done"]}, "notify[0].states", "queued"),
    ({"type": "slack", "url": "secret:X", "channel": "#ops"}, "notify[0].channel", "not a notify field"),
])
def test_bad_entries_name_the_field(entry, field, words):
    with pytest.raises(InvalidInput) as caught:
        notifications.validate([entry])
    assert caught.value.field == field and words in str(caught.value)


def test_slack_and_discord_bodies_say_what_happened_and_link_the_job():
    slack = channels.slack_body(CHANGE, "https://d.example.com/jobs/J1")
    assert slack["text"].startswith(":x: blog/release v1.2 (c0ffee0): failed")
    assert "failed: exit 3" in slack["text"] and "<https://d.example.com/jobs/J1|job J1>" in slack["text"]
    discord = channels.discord_body({**CHANGE, "state": "succeeded"}, "https://d.example.com/jobs/J1")
    [embed] = discord["embeds"]
    assert embed["title"] == "blog/release v1.2 (c0ffee0): succeeded" and embed["url"].endswith("/J1")
    assert discord["allowed_mentions"] == {"parse": []}  # a ref name never pings anyone


def test_the_signature_verifies_with_the_standard_webhooks_library():
    key = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps(channels.webhook_body(CHANGE, "")).encode()
    stamp = int(time.time())  # the library refuses timestamps more than 5 minutes off
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(stamp),
               "webhook-signature": channels.sign(key, "msg_1", stamp, body)}
    wh = Webhook(key)
    assert wh.verify(body, headers)["data"]["state"] == "failed"
    with pytest.raises(WebhookVerificationError):
        wh.verify(body.replace(b"failed", b"succeeded"), headers)


HOSTILE = ["<!channel>", "<!here|here>", "<!everyone>", "<@U024BE7LH>", "<!subteam^S012AB3CD>", "@everyone",
           "@here", "@channel", "<@123456789012345678>", "<@&123456789012345678>", "<http://evil.example|click>"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_branch_name_or_reason_mentions_nobody_in_slack(name):
    text = channels.slack_body({**CHANGE, "ref": f"refs/heads/{name}", "reason": f"exit 3 {name}"},
                               "https://d.example.com/jobs/J1")["text"]
    ours = "<https://d.example.com/jobs/J1|job J1>"  # the one link the message makes itself
    assert text.endswith(ours)
    shown = text[:-len(ours)]
    assert "<" not in shown and ">" not in shown  # no <!channel>, <@U..>, <!subteam^..> or <url|text> survives
    assert not re.search(r"@(everyone|here|channel)", shown)
    assert shown.count("\u200b") == name.count("@") * 2  # still readable: escaped, not removed


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_branch_name_or_reason_mentions_nobody_in_discord(name):
    body = channels.discord_body({**CHANGE, "ref": f"refs/heads/{name}", "reason": f"exit 3 {name}"}, "")
    [embed] = body["embeds"]
    for text in (embed["title"], embed["description"]):
        assert not re.search(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>", text), text  # what Discord reads as one
        assert name.replace("@", "@\u200b") in text
    assert body["allowed_mentions"] == {"parse": []} and body["content"] == ""


@pytest.mark.parametrize("value", ["hooks.slack.com/services/T0/B0/s3cr3tPart", "//hooks.slack.com/services/s3cr3tPart",
                                   "ftp://hooks.slack.com/s3cr3tPart", "https://hooks.slack.com/services/s3cr3tPart x",
                                   "http://[::1/s3cr3tPart"])
def test_a_notification_url_that_is_not_a_web_url_is_named_by_its_secret_never_shown(value, monkeypatch):
    monkeypatch.setenv("TAHOBUDDY_SECRET_SLACK_OPS", value)
    with pytest.raises(channels.DeliveryError) as caught:
        channels.send({"type": "slack", "url": "secret:SLACK_OPS"}, CHANGE, "msg_1")
    said = str(caught.value)
    assert "s3cr3tPart" not in said and "secret SLACK_OPS" in said and "slack URL" in said, said
    assert caught.value.retry is False and caught.value.__cause__ is None  # no traceback carries it either
