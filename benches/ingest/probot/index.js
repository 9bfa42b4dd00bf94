// The peer of benches/ingest.rs: the smallest Probot 14 app a new user would write. Probot's own
// server verifies the signature, parses the payload and dispatches `pull_request` to a handler
// that does no work. Settings come from the environment the benchmark sets:
// PORT, WEBHOOK_SECRET, WEBHOOK_PATH (LOG_LEVEL as Probot reads it).
import { generateKeyPairSync } from "node:crypto";
import { Probot, Server } from "probot";

// Probot wants an App's private key even though no call to GitHub is made; a throwaway one is
// made here so that no key is written anywhere.
const { privateKey } = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs1", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
});

let handled = 0;

const app = (probot) => {
  probot.on("pull_request", async () => {
    handled += 1;
  });
};

const server = new Server({
  Probot: Probot.defaults({
    appId: 1,
    privateKey,
    secret: process.env.WEBHOOK_SECRET,
  }),
  host: "127.0.0.1",
  port: Number(process.env.PORT || 3000),
  webhookPath: process.env.WEBHOOK_PATH || "/api/github/webhooks",
});

await server.load(app);
await server.start();

// Says how many deliveries reached the handler, so the benchmark knows they were dispatched.
process.on("SIGTERM", async () => {
  process.stderr.write(`pull_request handled: ${handled}\n`);
  await server.stop();
  process.exit(0);
});
