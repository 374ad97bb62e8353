// wss:// with a certificate from a private CA, trusted through NODE_EXTRA_CA_CERTS (the way
// the README documents for Node). Skipped when openssl is not installed, or failed when
// TICKCAST_REQUIRE_OPENSSL is set (scripts/test-js-client.sh installs openssl and sets it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./helpers.js";

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
const skip = !hasOpenssl && !process.env.TICKCAST_REQUIRE_OPENSSL && "openssl not installed (set TICKCAST_REQUIRE_OPENSSL to make this a failure)";

test("wss:// with a private CA via NODE_EXTRA_CA_CERTS", { skip }, async (t) => {
  assert.ok(hasOpenssl, "openssl is required (TICKCAST_REQUIRE_OPENSSL is set) but not on PATH");
  const dir = mkdtempSync(join(tmpdir(), "tickcast-js-tls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tickcast test CA");
  ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  ssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf");

  const server = await startServer(["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")]);
  t.after(() => server.stop());
  assert.match(server.url, /^wss:\/\//);
  const index = fileURLToPath(new URL("../index.js", import.meta.url));
  const program = `
    const { connect } = await import(${JSON.stringify(index)});
    const feed = await connect(${JSON.stringify(server.url)}, { connectTimeoutMs: 5000 });
    for await (const msg of feed.subscribe("ticks.*")) if (msg.type === "tick") { console.log("tick", msg.topic); break; }
    feed.close();`;
  const flags = process.execArgv.filter((a) => a === "--experimental-websocket"); // as this process was started
  const run = (env) =>
    spawnSync(process.execPath, [...flags, "--input-type=module", "-e", program], { env: { ...process.env, ...env }, timeout: 20_000, encoding: "utf8" });
  const trusted = run({ NODE_EXTRA_CA_CERTS: join(dir, "ca.pem") });
  assert.equal(trusted.status, 0, trusted.stderr);
  assert.match(trusted.stdout, /^tick ticks\./);
  const untrusted = run({ NODE_EXTRA_CA_CERTS: "" });
  assert.notEqual(untrusted.status, 0, "an untrusted certificate must not connect");
  assert.match(untrusted.stderr, /could not connect/);
});
