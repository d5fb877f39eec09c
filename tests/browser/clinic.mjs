// Browser and accessibility tests of the clinic's workspace, in Debian's
// Chromium driven by playwright-core, with axe-core at WCAG 2.2 AA.
//
//   PROM_BIN=target/debug/prom node tests/browser/clinic.mjs
//
// It starts `prom serve --demo`, logs in as the demo's staff member (the
// second factor set up from the page's secret, as an authenticator app
// would), takes and resolves an item of the queue, opens a patient's
// timeline, enters a paper response, revokes an API key, and finds those
// actions in the audit log; axe-core runs on every page, at 1280 px and at
// 320 px (which must not scroll sideways), and screenshots go to
// docs/screenshots/. It ends with "N passed, N failed".

import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { axe, check, finish, here, launch, noSidewaysScroll, shots, startServer } from "./common.mjs";

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
function totp(secret, at = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/[\s=]/g, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) key.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac("sha1", Buffer.from(key)).update(counter).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, "0");
}

const keep = {};
const { server, link: patientLink } = await startServer(keep);
// English phrases of the catalogue that Danish pages must not show.
const cat = (l) => JSON.parse(readFileSync(join(here, "..", "..", "templates", "i18n", `${l}.json`), "utf8"));
const da = Object.values(cat("da"));
const english = Object.values(cat("en")).filter((v) => v.includes(" ") && v.length >= 12 && !v.includes("{") && !da.some((d) => d.includes(v)));
const login = keep.output.match(/staff login:\s+(\S+) \/ (\S+)/);
const base = keep.output.match(/workspace:\s+(\S+)\/clinic/)[1];
const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await ctx.newPage();
  await page.goto(`${base}/clinic`);
  check("the workspace asks for a login first", page.url().includes("/clinic/login"), page.url());
  await axe(page, "the login page");
  await page.screenshot({ path: join(shots, "clinic-login-1280.png"), fullPage: true });
  await page.fill("#email", login[1]);
  await page.fill("#password", login[2]);
  await page.click("button[type=submit]");
  check("the first login sets up the second factor", page.url().endsWith("/clinic/login/enrol"), page.url());
  check("the set-up shows a QR code drawn by the server", (await page.locator(".qr svg").count()) === 1);
  await axe(page, "the second factor's set-up");
  check("the set-up's own button is the page's first submit button",
    await page.evaluate(() => document.querySelector("button[type=submit]").form.getAttribute("action") === "/clinic/login/enrol"));
  const secret = (await page.textContent(".secret code")).trim();
  await page.fill("#code", totp(secret));
  await page.click("form[action='/clinic/login/enrol'] button[type=submit]");
  check("recovery codes are shown once", (await page.locator(".codes li").count()) === 10);
  check("the recovery codes can be downloaded", (await page.locator("a[download='prom-recovery-codes.txt']").count()) === 1);
  check("the recovery codes can be printed", await page.isVisible("button[data-print]"));
  await axe(page, "the recovery codes");
  // Continuing asks that the codes are kept (the browser's own check).
  await page.click("form[action='/clinic/login/saved'] button[type=submit]");
  check("continuing waits for the codes to be confirmed kept", page.url().includes("/clinic/login/enrol"), page.url());
  await page.check("input[name=saved]");
  await page.click("form[action='/clinic/login/saved'] button[type=submit]");
  check("the login lands on the queue", page.url().endsWith("/clinic"), page.url());
  check("the queue holds red and yellow items",
    (await page.locator(".queue .badge.red").count()) > 0 && (await page.locator(".queue .badge.yellow").count()) > 0);
  await axe(page, "the review queue");
  await page.screenshot({ path: join(shots, "clinic-queue-1280.png"), fullPage: true });

  // A patient answers and asks to be contacted from the receipt: the
  // queue's card and the item say so in Danish, with JavaScript off and on.
  {
    const pc = await browser.newContext({ javaScriptEnabled: false });
    const pp = await pc.newPage();
    await pp.goto(patientLink);
    await pp.fill("#pain_now", "2");
    await pp.fill("#pain_worst", "3");
    await pp.click("button[name=go]");
    await pp.click("form[action='/done/contact'] button[type=submit]");
    await pc.close();
  }
  for (const js of [false, true]) {
    const how = js ? "JavaScript on" : "JavaScript off";
    const c2 = await browser.newContext({ javaScriptEnabled: js, storageState: await ctx.storageState() });
    const p2 = await c2.newPage();
    await p2.goto(`${base}/clinic`);
    // Items sit in their patient's card (one per patient), under "show".
    const card = p2.locator("details li.card", { hasText: "Patienten beder om at blive kontaktet" });
    check(`the contact request is on the queue's card (${how})`, (await card.count()) === 1);
    if (await card.count()) {
      await p2.goto(`${base}${await card.first().locator("h3 a").getAttribute("href")}`);
      const main = await p2.textContent("main");
      check(`the item shows the request in Danish (${how})`, main.includes("Patienten beder om at blive kontaktet") && !main.includes("patient asks to be contacted"));
    }
    for (const url of [`${base}/clinic`, `${base}/clinic/admin/audit`, `${base}/clinic/patients`]) {
      await p2.goto(url);
      const text = await p2.textContent("body");
      const foreign = english.filter((e) => text.includes(e));
      check(`${url.replace(base, "")} shows no English text in Danish (${how})`, foreign.length === 0, foreign.join(" | "));
    }
    await c2.close();
  }

  // Take the first item, then open it and resolve it.
  const firstCard = page.locator("main > ol.queue > li.card").first();
  check("the queue has one card per patient", (await page.locator("main > ol.queue > li.card").count()) ===
    new Set(await page.locator("main > ol.queue > li.card h2 a").evaluateAll((as) => as.map((a) => a.getAttribute("href")))).size);
  if ((await firstCard.locator("details").getAttribute("open")) === null) await firstCard.locator("summary").click();
  await firstCard.locator("details li.card").first().locator("button", { hasText: /Tag|Take/ }).click();
  check("a taken item shows who took it", (await page.locator("details li.card").first().textContent()).includes("taget af"));
  await page.goto(`${base}${await page.locator("details li.card h3 a").first().getAttribute("href")}`);
  check("an item opens as its response's page", page.url().includes("/clinic/responses/"), page.url());
  await axe(page, "a response's page");
  await page.screenshot({ path: join(shots, "clinic-response-1280.png"), fullPage: true });
  const responseUrl = page.url();
  check("no outcome is chosen beforehand", (await page.locator("input[name=outcome]:checked").count()) === 0);
  // Resolving without an outcome is refused (with JavaScript off and on).
  for (const js of [true, false]) {
    const c2 = await browser.newContext({ javaScriptEnabled: js, storageState: await ctx.storageState() });
    const p3 = await c2.newPage();
    await p3.goto(responseUrl);
    await p3.fill("#note", "uden udfald");
    await p3.click("form:has(input[value=resolve]) button[type=submit]");
    const stillOpen = (await p3.locator("form:has(input[value=resolve])").count()) === 1;
    check(`resolving without an outcome leaves the item open (JavaScript ${js ? "on" : "off"})`, stillOpen && p3.url() === responseUrl, p3.url());
    await c2.close();
  }
  await page.check("input[name=outcome][value=phone]");
  await page.fill("#note", "Ringet op; aftalt ny samtale");
  await page.click("form:has(input[value=resolve]) button[type=submit]");
  check("resolving is confirmed in a status message",
    (await page.locator("p.notice[role=status]").textContent()).includes("Punktet er afsluttet"));
  await axe(page, "the queue with a confirmation");
  await page.goto(responseUrl);
  check("the resolution and its note are in the item's history",
    (await page.textContent("main")).includes("Ringet op; aftalt ny samtale"));
  check("the history is in Danish", (await page.textContent("main")).includes("Kontaktet telefonisk: Ringet op"));

  // A patient's timeline with charts.
  await page.goto(`${base}/clinic/patients`);
  await axe(page, "the patients list");
  await page.click("a:has-text('D002')");
  check("a patient's page has a chart per score", (await page.locator("svg.chart").count()) > 0);
  await axe(page, "a patient's page");
  await page.screenshot({ path: join(shots, "clinic-patient-1280.png"), fullPage: true });
  const patientUrl = page.url();

  // A paper response, typed in.
  await page.click(`a[href$='/paper/phq9']`);
  await axe(page, "the paper entry form");
  check("the paper entry numbers the questions as on paper", (await page.locator(".qno").first().textContent()) === "1.");
  await page.fill("#answered_on", new Date().toISOString().slice(0, 10));
  for (const group of await page.locator("fieldset").all()) {
    const radios = group.locator("input[type=radio]");
    if (await radios.count()) await radios.first().check();
  }
  await page.locator("button[name=go]").first().click();
  check("a paper response is stored and shown as paper",
    page.url().includes("/clinic/responses/") && (await page.textContent("main")).includes("papir"), page.url());
  check("storing a paper response is confirmed", (await page.locator("p.notice[role=status]").textContent()).includes("Papirsvaret er gemt"));

  // Administration: an API key revoked; the audit log holds it all.
  await page.goto(`${base}/clinic/admin/keys`);
  await axe(page, "the API keys page");
  await page.locator("form[action$='/revoke'] button").first().click();
  check("a key shows as revoked", (await page.locator("form[action$='/revoke']").count()) === 0);
  await page.goto(`${base}/clinic/admin/staff`);
  await axe(page, "the staff page");
  await page.goto(`${base}/clinic/admin/mail`);
  await axe(page, "the undelivered e-mails page");
  await page.goto(`${base}/clinic/letters`);
  await axe(page, "the letters to print");
  await page.goto(`${base}/clinic/questionnaires`);
  await axe(page, "the questionnaires page");
  await page.click("a[href='/clinic/questionnaires/phq9']");
  await axe(page, "a questionnaire as patients see it");
  await page.goto(`${base}/clinic/admin/audit`);
  await axe(page, "the audit log");
  const log = await page.textContent("main");
  // In words, in the workspace's language (Danish here).
  for (const a of ["Logget ind", "Punkt taget", "Punkt afsluttet", "Svar modtaget", "API-nøgle tilbagekaldt", "Patientens side læst"]) {
    check(`the audit log holds «${a}»`, log.includes(a));
  }
  check("the audit log shows no action codes", !/\b(staff\.login|review\.take|response\.read)\b/.test(log));
  await page.screenshot({ path: join(shots, "clinic-audit-1280.png"), fullPage: true });

  // The same pages on a small screen.
  const state = await ctx.storageState();
  const small = await browser.newContext({ viewport: { width: 320, height: 800 }, bypassCSP: true, storageState: state });
  const p2 = await small.newPage();
  for (const [name, url] of [["the review queue", `${base}/clinic`], ["a response's page", responseUrl],
    ["a patient's page", patientUrl], ["the audit log", `${base}/clinic/admin/audit`]]) {
    await p2.goto(url);
    await axe(p2, `${name} (320 px)`);
    await noSidewaysScroll(p2, name);
  }
  await p2.goto(`${base}/clinic`);
  await p2.screenshot({ path: join(shots, "clinic-queue-320.png"), fullPage: true });
  await p2.goto(patientUrl);
  await p2.screenshot({ path: join(shots, "clinic-patient-320.png"), fullPage: true });
  // Logout ends the session: the next page asks for a login again.
  await p2.goto(`${base}/clinic`);
  await p2.locator("form[action='/clinic/logout'] button").click();
  await p2.goto(`${base}/clinic`);
  check("after logout the workspace asks for a login", p2.url().includes("/clinic/login"), p2.url());
  await small.close();
  await ctx.close();
} finally {
  await browser.close();
  server.kill();
}
finish();
