"""Notifications per app: Slack incoming webhooks, Discord webhooks, and generic webhooks signed per
the Standard Webhooks spec (https://www.standardwebhooks.com: `webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

An app's `notify:` list holds entries `{type, url, secret?, states?}` (checked, and matched to a job's
state, by functions/domain/notifications.py). `url` and `secret` are `secret:NAME` references, never
values, and are resolved only when a message is sent:
the functions' environment `TAHOBUDDY_SECRET_<NAME>` first, then the Secrets Manager secret
`<TAHOBUDDY_NOTIFY_SECRETS_PREFIX><NAME>` (default prefix `tahobuddy/`). Message bodies and the
signature are pure functions; `send` only posts and classifies the answer as GitHub's client does.

Chat channels (Slack, Discord) show a branch name and a job's reason, which a pusher chose: their
text is escaped so it can mention nobody (`<!channel>`, `<@U123>`, `@everyone`, `@here` read as plain
text); the generic webhook carries the same values as data, unescaped.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

from contract.wire import SECRET_REF

from functions.config import boto_kwargs
from functions.notify.github import GitHubError as DeliveryError
from functions.notify.github import job_link, outcome

# ---- pure message bodies -------------------------------------------------------------------------
ZWSP = "\u200b"  # a zero-width space after every @: `@everyone` still reads so, and mentions nobody


def slack_text(text: str) -> str:
    """Text for Slack's mrkdwn: `&`, `<` and `>` escaped as Slack asks, so `<!channel>`, `<!here>`,
    `<@U123>`, `<!subteam^S1>` and `<http://x|y>` are shown as typed, never as a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("@", "@" + ZWSP)


def discord_text(text: str) -> str:
    """Text for Discord: `@everyone`, `@here`, `<@123>`, `<@&123>` broken by a zero-width space, so
    nothing mentions anyone even where `allowed_mentions` does not reach (a client's own rendering)."""
    return text.replace("@", "@" + ZWSP)


def _headline(change: dict) -> str:
    where = change["ref"].split("/", 2)[-1] + (f" ({change['sha'][:7]})" if change.get("sha") else "")
    return f"{change['app']}/{change['rule']} {where}: {change['state']}"


def _detail(change: dict) -> str:
    """The reason of a job that did not deploy; a promotion's origin while it goes well."""
    if change["state"] in ("queued", "running", "succeeded"):
        return change.get("promoted_from") or ""
    return outcome(change)[1]


def slack_body(change: dict, link: str) -> dict:
    icon = {"succeeded": ":white_check_mark:", "failed": ":x:"}.get(change["state"], ":information_source:")
    text = f"{icon} {slack_text(_headline(change))}"
    if _detail(change):
        text += f"\n{slack_text(_detail(change))}"
    if link:
        text += f"\n<{link}|job {change['job_id']}>"
    return {"text": text}


def discord_body(change: dict, link: str) -> dict:
    color = {"succeeded": 0x2EA043, "failed": 0xD1242F}.get(change["state"], 0x8C959F)
    embed = {"title": discord_text(_headline(change))[:256],
             "description": discord_text(_detail(change) or change["state"])[:4096],
             "color": color}
    if link:
        embed["url"] = link
    return {"content": "", "embeds": [embed], "allowed_mentions": {"parse": []}}


def webhook_body(change: dict, link: str) -> dict:
    keys = ("job_id", "app", "rule", "state", "reason", "reason_code", "ref", "sha", "repo", "promoted_from")
    return {"type": f"job.{change['state']}", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "data": {**{k: change.get(k, "") for k in keys}, "url": link}}


def sign(key: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature: `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")).
    A `whsec_` key is base64 after its prefix."""
    raw = base64.b64decode(key[len("whsec_"):] if key.startswith("whsec_") else key)
    mac = hmac.new(raw, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


# ---- resolving and sending -----------------------------------------------------------------------
def resolve(ref: str) -> str:
    name = SECRET_REF.match(ref).group(1)
    if os.environ.get(f"TAHOBUDDY_SECRET_{name}"):
        return os.environ[f"TAHOBUDDY_SECRET_{name}"]
    import boto3
    secret_id = os.environ.get("TAHOBUDDY_NOTIFY_SECRETS_PREFIX", "tahobuddy/") + name
    try:
        return boto3.client("secretsmanager", **boto_kwargs()).get_secret_value(SecretId=secret_id)["SecretString"]
    except Exception as exc:  # noqa: BLE001 - named plainly: which secret, where it was looked for
        raise DeliveryError(f"secret {name} not found (TAHOBUDDY_SECRET_{name}, or Secrets Manager {secret_id}): "
                            f"{exc.__class__.__name__}", retry=False) from exc


def request(entry: dict, change: dict, msg_id: str) -> tuple[str, bytes, dict]:
    """(url, body, headers) of one notification."""
    link = job_link(change["job_id"])
    build = {"slack": slack_body, "discord": discord_body, "webhook": webhook_body}[entry["type"]]
    body = json.dumps(build(change, link)).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "tahobuddy"}
    if entry["type"] == "webhook":
        stamp = int(time.time())
        headers.update({"webhook-id": msg_id, "webhook-timestamp": str(stamp),
                        "webhook-signature": sign(resolve(entry["secret"]), msg_id, stamp, body)})
    return resolve(entry["url"]), body, headers


def send(entry: dict, change: dict, msg_id: str, timeout: float = 10) -> None:
    """Post one notification. An error names the secret that holds the URL, never the URL: for Slack
    and Discord the URL is the credential, and errors go to the outbox and the functions' log."""
    url, body, headers = request(entry, change, msg_id)
    where = f"{entry['type']} URL (secret {SECRET_REF.match(entry['url']).group(1)})"
    if not _is_web_url(url):
        raise DeliveryError(f"the {where} is not an http(s) URL: set it to the whole address, "
                            "https://...", retry=False)
    try:
        req = urllib.request.Request(url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{entry['type']} answered {exc.code}", retry=exc.code >= 500 or exc.code == 429) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(_without(f"{entry['type']}: {exc}", url), retry=True) from None
    except (ValueError, http.client.HTTPException) as exc:  # their messages quote the URL or its path
        raise DeliveryError(f"the {where} is not usable ({exc.__class__.__name__})", retry=False) from None


def _is_web_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _without(text: str, url: str) -> str:
    """`text` with the URL, and its path (where a Slack or Discord token sits), left out."""
    path = urllib.parse.urlsplit(url).path
    text = text.replace(url, "<the URL>")
    return text.replace(path, "<its path>") if len(path) > 1 else text
