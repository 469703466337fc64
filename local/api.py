"""`chalice local` with TCP_NODELAY: python -m local.api [chalice local options].

This runs Chalice's own `local` command unchanged except for one socket option.
Its request handler answers keep-alive requests in two writes with Nagle's
algorithm on, so each response waits for the client's delayed ACK: ~40 ms per
request on loopback, for every route (measured by bench/webhook.py). Turning
Nagle off (the handler's own `disable_nagle_algorithm` switch) removes that.
"""
from __future__ import annotations

import sys

from chalice import local as chalice_local
from chalice.cli import cli


def main(argv: list[str]) -> int:
    chalice_local.ChaliceRequestHandler.disable_nagle_algorithm = True
    sys.argv = ["chalice", "local", *argv]
    return cli(obj={})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
