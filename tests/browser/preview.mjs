// Browser and accessibility tests of the author's preview (`prom preview`)
// in Debian's Chromium driven by playwright-core, with axe-core at WCAG 2.2
// AA, and of the pages for an address that does not exist.
//
//   PROM_BIN=target/debug/prom node tests/browser/preview.mjs
//
// It writes a questionnaire whose file name is not its id, with a
// conditional question and a "none of these" option, starts `prom preview`
// on it and checks, with JavaScript on: the conditional question appears as
// the author answers (the page's visibility request is answered), "none of
// these" and the other options exclude each other on screen, no level is
// shown before anything is answered, and the form's address shows the
// file's errors while it does not compile. It ends with "N passed, N failed".

import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { axe, bin, check, finish, launch, startServer } from "./common.mjs";

const dir = mkdtempSync(join(tmpdir(), "prom-preview-"));
const source = `id: sleep
version: 1
title: {da: Søvn, en: Sleep}
languages: [da, en]
items:
  - id: trouble
    type: boolean
    text: {da: Sover du dårligt?, en: Trouble sleeping?}
  - id: why
    type: multi
    show_if: "trouble"
    text: {da: Hvorfor?, en: Why?}
    options:
      - {value: pain, text: {da: Smerter, en: Pain}}
      - {value: worry, text: {da: Bekymringer, en: Worry}}
      - {value: none, text: {da: Ingen af disse, en: None of these}, exclusive: true}
`;
const file = join(dir, "sleep-draft.yaml");
writeFileSync(file, source);

const preview = spawn(bin, ["preview", dir, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
const base = await new Promise((resolve, reject) => {
  let out = "";
  const timer = setTimeout(() => reject(new Error(`no address in: ${out}`)), 30000);
  preview.stdout.on("data", (d) => {
    out += d.toString();
    const m = out.match(/at (http:\/\/\S+?)\/ /);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
  preview.on("exit", (code) => reject(new Error(`prom preview exited (${code}): ${out}`)));
});

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await ctx.newPage();
  const notFound = [];
  page.on("response", (r) => { if (r.status() === 404) notFound.push(r.url()); });
  await page.goto(`${base}/q/sleep`);
  check("no level before anything is answered", (await page.textContent(".preview-result")).includes("nothing is answered"));
  check("the conditional question starts hidden", await page.isHidden("[data-item=why]"));
  await page.check("input[name=trouble][value=true]");
  let shown = true;
  try {
    await page.waitForSelector("[data-item=why]:not([hidden])", { timeout: 5000 });
  } catch {
    shown = false;
  }
  check("the conditional question appears as the author answers", shown);
  check("the page's visibility request is answered (no 404)", notFound.length === 0, notFound.join(" "));
  await page.check("input[name=why][value=pain]");
  await page.check("input[name=why][value=none]");
  check("ticking «none of these» unticks the others",
    !(await page.isChecked("input[name=why][value=pain]")) && (await page.isChecked("input[name=why][value=none]")));
  await page.check("input[name=why][value=worry]");
  check("ticking another option unticks «none of these»", !(await page.isChecked("input[name=why][value=none]")));
  await axe(page, "the preview");
  // While the file does not compile, the form's address shows its errors.
  writeFileSync(file, source.replace('show_if: "trouble"', 'show_if: "truble"'));
  const r = await page.goto(`${base}/q/sleep`);
  check("a broken file's errors are at the form's address", r.status() === 200 && (await page.textContent("main")).includes("truble"));
  await axe(page, "the preview of a broken file");
  const gone = await page.goto(`${base}/q/nothing`);
  check("an unknown preview address is a page", gone.status() === 404 && (await page.locator("main h1").count()) === 1);
  await axe(page, "the preview's not-found page");
  await ctx.close();
} finally {
  await browser.close();
  preview.kill();
}

// The service's pages for an address that does not exist.
{
  const { server, link } = await startServer();
  const base2 = new URL(link).origin;
  const b2 = await launch();
  try {
    for (const [lang, header] of [["da", "da"], ["en", "en-GB,en"]]) {
      const ctx = await b2.newContext({ bypassCSP: true, extraHTTPHeaders: { "Accept-Language": header } });
      const page = await ctx.newPage();
      for (const path of ["/no-such-page", "/clinic/no-such-page"]) {
        const r = await page.goto(`${base2}${path}`);
        check(`${path} answers a page in ${lang}`, r.status() === 404 && (await page.getAttribute("html", "lang")) === lang
          && (await page.locator("main h1").count()) === 1 && (await page.locator("main a").count()) >= 1);
        await axe(page, `${path} (${lang})`);
      }
      await ctx.close();
    }
  } finally {
    await b2.close();
    server.kill();
  }
}
finish();
