// Sign every real GitHub example payload with GitHub's own signing code (@octokit/webhooks-methods).
// Usage: node sign_examples.mjs NODE_MODULES_DIR SECRET > deliveries.json
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, secret] = process.argv.slice(2);
const methods = join(modules, "@octokit/webhooks-methods");
const entry = JSON.parse(readFileSync(join(methods, "package.json"), "utf8")).exports["."].node.import;
const { sign } = await import(pathToFileURL(join(methods, entry)).href);
const root = join(modules, "@octokit/webhooks-examples");
const out = [];
for (const host of readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory())) {
  const index = JSON.parse(readFileSync(join(root, host.name, "index.json"), "utf8"));
  for (const event of index) {
    event.examples.forEach((example, i) => {
      out.push({ host: host.name, event: event.name, index: i, body: JSON.stringify(example) });
    });
  }
}
for (const d of out) d.signature = await sign(secret, d.body);
process.stdout.write(JSON.stringify(out));
