"""The agent's secrets on AWS: SSM Parameter Store and Secrets Manager, on moto server over HTTP."""
import boto3
import pytest

from functions.config import boto_kwargs

pytestmark = pytest.mark.functional


def test_agent_secrets_come_from_ssm_and_secrets_manager_and_are_masked(moto):
    from agent.secrets import Secrets
    from runners.base import RunnerError
    kw = boto_kwargs()
    boto3.client("ssm", **kw).put_parameter(Name="/tahobuddy-test/HEROKU_API_KEY", Value="hk-from-ssm-123",
                                            Type="SecureString", Overwrite=True)
    boto3.client("secretsmanager", **kw).create_secret(Name="DEPLOY_TOKEN_SM", SecretString="tok-from-sm-456")
    s = Secrets(env={}, ssm_path="/tahobuddy-test/", secrets_manager=True, aws=kw)
    assert s("HEROKU_API_KEY") == "hk-from-ssm-123" and s("DEPLOY_TOKEN_SM") == "tok-from-sm-456"
    assert s.mask("key hk-from-ssm-123 and tok-from-sm-456") == "key *** and ***"
    with pytest.raises(RunnerError, match="SSM, Secrets Manager"):
        s("NOWHERE")
    assert Secrets(env={"HEROKU_API_KEY": "from-env"}, ssm_path="/tahobuddy-test/", aws=kw)("HEROKU_API_KEY") \
        == "from-env"  # the agent's own environment comes first
