// The web page as an observer of the fault-injection suite (scripts/faults/, RELIABILITY.md):
// opens the page served at URL with ?record=1 in headless Chromium and prints, as JSON lines on
// stdout, every tick and snapshot it receives ({topic, epoch, seq, type}) and every loss it is
// told of ({type: "gap", topic, epoch, reason}), until it is terminated.
//   node scripts/web/fault-observer.mjs http://127.0.0.1:PORT/ [PATTERN]
import { chromium } from "playwright-core";

const [base, pattern = "ticks.*"] = process.argv.slice(2);
const url = new URL(base);
url.searchParams.set("topics", pattern);
url.searchParams.set("record", "1");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  timeout: 60000,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
  ],
});
let stopping = false;
const stop = async () => {
  stopping = true;
  await browser.close().catch(() => {});
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

const page = await browser.newPage();
page.on("console", (m) => m.type() === "error" && console.error(`page: ${m.text()}`));
// The page is served by whichever node the balancer picks; a dead node just means a retry.
for (let tries = 0; !stopping; tries++) {
  try {
    await page.goto(url.href, { timeout: 10000 });
    break;
  } catch (e) {
    console.error(`loading the page: ${e.message}`);
    if (tries > 20) process.exit(1);
    await new Promise((r) => setTimeout(r, 500));
  }
}
while (!stopping) {
  const records = await page.evaluate(() => window.tickcast?.drainRecords?.() ?? []).catch(() => []);
  for (const r of records) process.stdout.write(JSON.stringify(r) + "\n");
  await new Promise((r) => setTimeout(r, 250));
}
