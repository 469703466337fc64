"""Secrets the rules name (`secret:NAME`): from the agent's secret file, then its environment, then
(when configured) SSM Parameter Store under a path and Secrets Manager. They never go to the API;
`mask` blanks their values in every log line."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from runners.base import Reason, RunnerError

MIN_MASKED = 4  # shorter values would blank ordinary words


class Secrets:
    def __init__(self, path: str = "", env: dict | None = None, ssm_path: str = "", secrets_manager: bool = False,
                 aws: dict | None = None):
        self.env = os.environ if env is None else env
        self.ssm_path, self.secrets_manager, self.aws = ssm_path, secrets_manager, aws or {}
        self.file: dict = {}
        if path:
            doc = yaml.safe_load(Path(path).read_text()) or {}
            if not isinstance(doc, dict):
                raise ValueError(f"{path}: expected a mapping of NAME: value")
            self.file = {str(k): str(v) for k, v in doc.items()}
        self.used: set[str] = set()

    def __call__(self, name: str) -> str:
        value = self.file.get(name, self.env.get(name)) or self._aws(name)
        if not value:
            where = "its secrets file, its environment" + (", SSM" if self.ssm_path else "") + \
                (", Secrets Manager" if self.secrets_manager else "")
            raise RunnerError(f"secret {name} is not set on this agent ({where})", reason=Reason.REFUSED)
        self.used.add(value)
        return value

    def _aws(self, name: str) -> str:
        import boto3
        if self.ssm_path:
            ssm = boto3.client("ssm", **self.aws)
            try:
                return ssm.get_parameter(Name=self.ssm_path.rstrip("/") + "/" + name,
                                         WithDecryption=True)["Parameter"]["Value"]
            except ssm.exceptions.ParameterNotFound:
                pass
        if self.secrets_manager:
            sm = boto3.client("secretsmanager", **self.aws)
            try:
                return sm.get_secret_value(SecretId=name)["SecretString"]
            except sm.exceptions.ResourceNotFoundException:
                pass
        return ""

    def register(self, value: str) -> None:
        """A value made on the agent (a database password) that must be masked too."""
        self.used.add(value)

    def mask(self, line: str) -> str:
        for value in sorted(self.used | set(self.file.values()), key=len, reverse=True):
            if len(value) >= MIN_MASKED and value in line:
                line = line.replace(value, "***")
        return line
