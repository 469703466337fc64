#!/usr/bin/env bash
# GitHub's real webhook payloads and GitHub's own signing code, from the npm registry.
set -euo pipefail
dir=".tahobuddy/npm"
if [ ! -f "$dir/node_modules/@octokit/webhooks-examples/package.json" ] || \
   [ ! -f "$dir/node_modules/@octokit/webhooks-methods/package.json" ]; then
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" \
    @octokit/webhooks-examples@7.6.1 @octokit/webhooks-methods@6.0.0 >/dev/null
fi
