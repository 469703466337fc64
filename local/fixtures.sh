#!/usr/bin/env bash
# GitHub's real webhook payloads, GitHub's own signing code and GitHub's REST description
# (generated/api.github.com.json, which tests/github_standin.py enforces), from the npm registry.
set -euo pipefail
dir=".tahobuddy/npm"
if [ ! -f "$dir/node_modules/@octokit/webhooks-examples/package.json" ] || \
   [ ! -f "$dir/node_modules/@octokit/webhooks-methods/package.json" ] || \
   [ ! -f "$dir/node_modules/@octokit/openapi/generated/api.github.com.json" ]; then
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" \
    @octokit/webhooks-examples@7.6.1 @octokit/webhooks-methods@6.0.0 @octokit/openapi@23.0.2 >/dev/null
fi
