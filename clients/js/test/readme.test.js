// The README's five-line example, run as written (as the Python suite's
// test_readme_example_runs_as_written): the code block under "## Five lines" of README.md,
// read from the file, only its URL replaced by the test server's, run as an ES module from the
// repository root (where the README saves it as example.mjs, so `./clients/js/index.js`
// resolves), against the server as a user runs it (50 US equities, a trading day pre-rolled).
// It prints the snapshot of ticks.AAPL, then its ticks, seq after seq.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startServer, within } from "./helpers.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

test("the README's five-line example runs as written", async (t) => {
  const block = /^## Five lines\n+```js\n([\s\S]*?)```/m.exec(readme);
  assert.ok(block, "README.md has a ```js block right under '## Five lines'");
  const example = block[1];
  assert.equal(example.trim().split("\n").length, 3, example); // the five lines, as printed
  assert.ok(example.includes('from "./clients/js/index.js"'), example);
  assert.ok(example.includes('"ws://127.0.0.1:8080/ws"'), example);

  const server = await startServer(["--seed", "7"], { base: false });
  t.after(() => server.stop());
  const code = example.replace("ws://127.0.0.1:8080/ws", server.url);
  const flags = process.execArgv.filter((a) => a === "--experimental-websocket"); // as this process was started
  const proc = spawn(process.execPath, [...flags, "--input-type=module", "-e", code], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => proc.kill("SIGKILL"));
  let stderr = "";
  proc.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const lines = [];
  await within(30_000, "5 lines from the example", new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout }).on("line", (line) => {
      lines.push(line.split(" "));
      if (lines.length >= 5) resolve();
    });
    proc.once("exit", (status) => reject(new Error(`the example exited (${status}): ${stderr}`)));
  })).catch((e) => {
    throw new Error(`${e.message}; printed: ${JSON.stringify(lines)}; stderr: ${stderr}`);
  });
  // `snapshot ticks.AAPL 812`, then `tick ticks.AAPL 813`, `tick ticks.AAPL 814`, ...
  const [first, ...rest] = lines;
  assert.deepEqual(first.slice(0, 2), ["snapshot", "ticks.AAPL"], JSON.stringify(lines));
  assert.ok(Number(first[2]) > 1, `a pre-rolled day: ${first}`);
  for (const [i, line] of rest.entries()) assert.deepEqual(line, ["tick", "ticks.AAPL", String(Number(first[2]) + i + 1)], JSON.stringify(lines));
  assert.equal(stderr, "");
});
