import pytest

from functions.errors import BadSignature
from functions.providers.github import sign
from functions.providers.github import verify_signature as verify

BODY = b'{"zen": "Keep it logically awesome."}'


def test_github_documented_example():
    # GitHub's docs: secret "It's a Secret to Everybody", payload "Hello, World!"
    assert sign("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_valid_signature_passes():
    verify("s3cret", BODY, sign("s3cret", BODY))


@pytest.mark.parametrize("header, hint", [
    (None, "missing"), ("", "missing"), ("sha1=abc", "sha256="),
    ("sha256=" + "0" * 64, "does not match"),
])
def test_bad_signatures_are_refused_with_a_reason(header, hint):
    with pytest.raises(BadSignature) as err:
        verify("s3cret", BODY, header)
    assert hint in str(err.value)


def test_error_never_contains_the_expected_digest_or_secret():
    with pytest.raises(BadSignature) as err:
        verify("s3cret", BODY, "sha256=" + "f" * 64)
    assert sign("s3cret", BODY)[7:] not in str(err.value) and "s3cret" not in str(err.value)


def test_a_body_changed_by_one_byte_fails():
    with pytest.raises(BadSignature):
        verify("s3cret", BODY + b" ", sign("s3cret", BODY))


def test_no_configured_secret_refuses_everything():
    with pytest.raises(BadSignature, match="TAHOBUDDY_WEBHOOK_SECRET"):
        verify("", BODY, sign("", BODY))
