"""A thin client of the Tahobuddy HTTP API that turns HTTP errors into ApiError."""
from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import requests

DEV_ENV = Path(".tahobuddy") / "dev.env"


class ApiError(Exception):
    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def dev_env(path: Path = DEV_ENV) -> dict:
    """KEY=VALUE lines that `make run` writes; read when the environment lacks them."""
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def setting(name: str, given: str | None = None) -> str:
    return given or os.environ.get(name) or dev_env().get(name, "")


class Client:
    def __init__(self, url: str, token: str, timeout: float = 30.0):
        if not url:
            raise ApiError("no API URL: set TAHOBUDDY_API_URL or pass --api-url (make run writes .tahobuddy/dev.env)")
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout
        self.session = requests.Session()

    def request(self, method: str, path: str, *, json=None, params=None, headers=None) -> dict:
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        h.update(headers or {})
        try:
            resp = self.session.request(method, f"{self.url}/api/v1{path}", json=json, params=params, headers=h,
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(f"cannot reach {self.url}: {exc.__class__.__name__}; is the API running?") from exc
        try:
            body = resp.json()
        except ValueError:
            body = {"Message": resp.text[:500]}
        if resp.status_code >= 400:
            message = body.get("Message") or body.get("message") or resp.reason
            raise ApiError(f"{resp.status_code} {resp.reason}: {message}", resp.status_code)
        return body

    def get(self, path: str, **params) -> dict:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict | None = None, **kw) -> dict:
        return self.request("POST", path, json=body if body is not None else {}, **kw)

    def put(self, path: str, body: dict) -> dict:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> dict:
        return self.request("DELETE", path)


def quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")
