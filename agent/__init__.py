"""The runner agent: outbound only. Long-polls SQS, claims through the API, runs a runner,
reports state and logs back over HTTPS."""

try:
    from importlib.metadata import version as _version
    __version__ = _version("tahobuddy")
except Exception:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
