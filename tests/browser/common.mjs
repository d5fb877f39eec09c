// What the browser tests share: Chromium, the demo server, axe-core at
// WCAG 2.2 AA, the 320 px check and the tally ("N passed, N failed").

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, "..", "..");
export const bin = process.env.PROM_BIN || join(root, "target", "debug", "prom");
// Chromium from $CHROMIUM, else the first `chromium` on the PATH.
function findChromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const dir of (process.env.PATH || "").split(":")) {
    const candidate = join(dir, "chromium");
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error("no chromium on the PATH; install Debian's chromium or set CHROMIUM");
}
export const browserPath = findChromium();
const axeSource = readFileSync(join(here, "node_modules", "axe-core", "axe.min.js"), "utf8");
export const shots = join(root, "docs", "screenshots");
mkdirSync(shots, { recursive: true });

export const tally = { passed: 0, failed: 0 };
export function check(name, ok, detail = "") {
  if (ok) {
    tally.passed += 1;
    console.log(`ok   ${name}`);
  } else {
    tally.failed += 1;
    console.log(`FAIL ${name}${detail ? `\n       ${detail}` : ""}`);
  }
}

// Starts the demo server (with `extra` arguments) and waits for its
// patient link.
export async function startServer(keep = {}, extra = []) {
  const dir = mkdtempSync(join(tmpdir(), "prom-browser-"));
  keep.dir = dir;
  const server = spawn(
    bin,
    ["serve", "--demo", "--listen", "127.0.0.1:0", "--db", join(dir, "prom.db"),
      "--mail-dir", join(dir, "mail"), "--questionnaires", join(root, "questionnaires"), ...extra],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, PROM_LOG: "warn" } },
  );
  let out = "";
  const link = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no patient link in:\n${out}`)), 60000);
    server.stdout.on("data", (d) => {
      out += d.toString();
      const m = out.match(/patient link: (\S+)/);
      if (m) {
        clearTimeout(timer);
        keep.output = out;
        resolve(m[1]);
      }
    });
    server.on("exit", (code) => reject(new Error(`prom serve exited (${code}):\n${out}`)));
  });
  return { server, link };
}

export async function axe(page, name) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] },
    }),
  );
  const v = result.violations;
  check(
    `axe-core finds no WCAG 2.2 AA violation on ${name}`,
    v.length === 0,
    v.map((x) => `${x.id}: ${x.help} (${x.nodes.length} places)`).join("\n       "),
  );
}

export async function noSidewaysScroll(page, name) {
  const wide = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
  check(`${name} does not scroll sideways at 320 px`, !wide);
}


// Chromium, headless, without anything that calls out.
export function launch() {
  return chromium.launch({
    executablePath: browserPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

// Ends the process with the tally; a stop on an unexpected error counts as
// a failure.
export function finish() {
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  process.exit(tally.failed === 0 ? 0 : 1);
}
for (const ev of ["uncaughtException", "unhandledRejection"]) {
  process.on(ev, (e) => {
    tally.failed += 1;
    console.log(`FAIL the browser test stopped: ${e && e.message ? e.message : e}`);
    finish();
  });
}
