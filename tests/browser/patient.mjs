// Browser and accessibility tests of the patient's pages, in Debian's
// Chromium driven by playwright-core, with axe-core at WCAG 2.2 AA.
//
//   PROM_BIN=target/debug/prom node tests/browser/patient.mjs
//
// It starts `prom serve --demo` on a fresh database in a temporary folder,
// opens the demo patient's link, answers the pain questionnaire at 320 px
// (with JavaScript off, and then the receipt), checks that no page scrolls
// sideways at 320 px, runs axe-core on every page, and saves screenshots at
// 320 and 1280 px in docs/screenshots/. It ends with "N passed, N failed".

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { axe, bin, check, finish, launch, noSidewaysScroll, root, shots, startServer } from "./common.mjs";

const { server, link } = await startServer();
const browser = await launch();
try {
  // The patient, with JavaScript off, on a small phone.
  const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 320, height: 640 } });
  const p = await noJs.newPage();
  await p.goto(link);
  check("the link leads to the form without the token in the address", p.url().endsWith("/a"), p.url());
  check("the form is in Danish", (await p.getAttribute("html", "lang")) === "da");
  await p.fill("#pain_now", "12");
  await p.fill("#pain_worst", "9");
  await p.click("button[name=go]");
  check("a refusal is shown with a summary", (await p.locator(".error-summary").count()) === 1);
  check("the other answer is kept", (await p.inputValue("#pain_worst")) === "9");
  check("the question the worst pain showed is there now", await p.isVisible("[data-item=sleep]"));
  await p.check("input[name=sleep][value=true]");
  await p.fill("#pain_now", "8");
  await p.click("button[name=go]");
  check("sending leads to the receipt", p.url().endsWith("/done"), p.url());
  const receipt = await p.textContent("main");
  check("the receipt thanks and gives the safety advice", receipt.includes("Tak for dine svar") && receipt.includes("Kontakt din afdeling i dag"), receipt);
  await noJs.close();

  // Each page, checked at 320 px and 1280 px, with axe-core (which needs
  // JavaScript; the pages have none of their own).
  for (const width of [320, 1280]) {
    const ctx = await browser.newContext({ viewport: { width, height: 900 }, bypassCSP: true });
    const page = await ctx.newPage();
    // A new link: the demo's was answered above. The problem page first.
    await page.goto(link);
    await axe(page, `the used-link page (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "the used-link page");
    await page.screenshot({ path: join(shots, `link-used-${width}.png`), fullPage: true });
    // The front page, for someone who comes without a link.
    await page.goto(new URL("/", link).href);
    await axe(page, `the front page (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "the front page");
    await ctx.close();
  }
} finally {
  await browser.close();
  server.kill();
}

// The form and receipt at both widths, with a fresh demo link each.
for (const width of [320, 1280]) {
  const keep2 = {};
  const { server: s2, link: l2 } = await startServer(keep2);
  const b2 = await launch();
  try {
    if (width === 320) {
      // With JavaScript (and the page's CSP enforced), a question appears
      // as soon as the answer that shows it is given.
      const jsCtx = await b2.newContext({ viewport: { width, height: 900 } });
      const jp = await jsCtx.newPage();
      const blocked = [];
      jp.on("console", (m) => { if (m.type() === "error") blocked.push(m.text()); });
      await jp.goto(l2);
      check("with JavaScript a hidden question starts hidden", await jp.isHidden("[data-item=sleep]"));
      await jp.fill("#pain_worst", "6");
      await jp.locator("#pain_worst").blur();
      let shown = true;
      try {
        await jp.waitForSelector("[data-item=sleep]:not([hidden])", { timeout: 5000 });
      } catch {
        shown = false;
      }
      check("with JavaScript it appears when the server says so", shown);
      // The slider's range control, by keyboard: it starts without a
      // handle, and the field it fills is what is sent.
      check("with JavaScript each slider has a range control", await jp.isVisible("#pain_now-slider"));
      check("an untouched slider leaves its field empty", (await jp.inputValue("#pain_now")) === "");
      await jp.focus("#pain_now-slider");
      await jp.keyboard.press("End");
      check("End on the range control gives the slider's top", (await jp.inputValue("#pain_now")) === "10", await jp.inputValue("#pain_now"));
      await jp.keyboard.press("ArrowLeft");
      await jp.keyboard.press("ArrowLeft");
      check("arrow keys step it", (await jp.inputValue("#pain_now")) === "8", await jp.inputValue("#pain_now"));
      await jp.fill("#pain_now", "3");
      check("typing in the field moves the range control", (await jp.inputValue("#pain_now-slider")) === "3");
      check("the range control is named by the question", (await jp.getAttribute("#pain_now-slider", "aria-labelledby")) === "pain_now-label");
      check("the page's script runs under its CSP", blocked.length === 0, blocked.join("; "));
      await jsCtx.close();
    }
    const ctx = await b2.newContext({ viewport: { width, height: 900 }, bypassCSP: true });
    const page = await ctx.newPage();
    await page.goto(l2);
    await axe(page, `the form (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "the form");
    await page.screenshot({ path: join(shots, `form-${width}.png`), fullPage: true });
    await page.fill("#pain_now", "11");
    await page.click("button[name=go]");
    check(`a refused slider answer shows no handle (${width} px)`,
      (await page.getAttribute("#pain_now-slider", "class")) === "unset");
    await axe(page, `the form with a refusal (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "the form with a refusal");
    await page.screenshot({ path: join(shots, `form-refusal-${width}.png`), fullPage: true });
    await page.fill("#pain_now", "8");
    await page.fill("#pain_worst", "9");
    await page.click("button[name=go]");
    if (await page.locator("p.notice").count()) {
      // The worst pain showed the sleep question on this page: answer it.
      await page.check("input[name=sleep][value=true]");
      await page.click("button[name=go]");
    }
    check(`sending leads to the receipt (${width} px)`, page.url().endsWith("/done"), page.url());
    await axe(page, `the receipt (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "the receipt");
    await page.screenshot({ path: join(shots, `receipt-${width}.png`), fullPage: true });
    await page.click("a[href='/me']");
    check(`the receipt leads to my data (${width} px)`, page.url().endsWith("/me"), page.url());
    // The invitation's session (its link may have been forwarded) shows no
    // history: it offers a personal link sent to the patient's address.
    check(`an invitation's session shows no history (${width} px)`, (await page.locator("svg.chart").count()) === 0);
    check(`it offers a link to the patient's address (${width} px)`, (await page.locator("form[action='/me/link'] button").count()) === 1);
    await axe(page, `my data without a personal link (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "my data without a personal link");
    // A personal link, as staff print one (used once).
    const made = spawnSync(bin, ["patient", "link", "D003", "--base-url", l2.replace(/\/a\/.*$/, ""),
      "--db", join(keep2.dir, "prom.db")], { encoding: "utf8" });
    await page.goto((made.stdout || "").trim());
    check(`a personal link leads to my data (${width} px)`, page.url().endsWith("/me"), page.url() + made.stderr);
    check(`my data shows a chart (${width} px)`, (await page.locator("svg.chart").count()) > 0);
    // Download in one click: the links answer with the files.
    for (const [href, type] of [["/me/download/fhir", "application/fhir+json"], ["/me/download/csv", "text/csv"]]) {
      check(`my data links to ${href} (${width} px)`, (await page.locator(`a[href='${href}']`).count()) === 1);
      const got = await page.request.get(new URL(href, page.url()).toString());
      check(`${href} downloads (${width} px)`, got.status() === 200 && (got.headers()["content-type"] || "").startsWith(type), String(got.status()));
    }
    await axe(page, `my data (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "my data");
    await page.screenshot({ path: join(shots, `mydata-${width}.png`), fullPage: true });
    await page.goto(l2.replace(/\/a\/.*$/, "/print/pain_nrs"));
    await axe(page, `the paper form (${width} px)`);
    if (width === 320) await noSidewaysScroll(page, "the paper form");
    await page.screenshot({ path: join(shots, `paper-${width}.png`), fullPage: true });
    await ctx.close();
  } finally {
    await b2.close();
    s2.kill();
  }
}

// Every shipped questionnaire filled in page by page to the receipt with
// JavaScript off and on (the first option of each question, the lowest number),
// going forward as the Enter key would (the first button), and each first
// page checked with axe-core.
{
  const keep = {};
  const { server: s3, link: l3 } = await startServer(keep);
  const base = l3.replace(/\/a\/.*$/, "");
  const b3 = await launch();
  // A new invitation link for `patient` to `q` (or the CLI's complaint).
  const invite = (q, patient) => {
    const r = spawnSync(bin, ["invite", patient, "--questionnaire", q, "--base-url", base,
      "--db", join(keep.dir, "prom.db"), "--questionnaires", join(root, "questionnaires")], { encoding: "utf8" });
    return (r.stdout || "").trim() || r.stderr;
  };
  // The conditional questions that the first options bring.
  const followUps = { chronic_followup: ["new_symptoms_text", "side_effects", "contact_topic"] };
  try {
    for (const q of ["phq9", "gad7", "pain_nrs", "ovarian_followup", "chronic_followup"]) {
      const first = invite(q, "D001");
      if (!first.startsWith(base)) {
        check(`an invitation to ${q}`, false, first);
        continue;
      }
      for (const js of [false, true]) {
      const how = js ? "JavaScript on" : "JavaScript off";
      const link = js ? invite(q, "D003") : first;
      const ctx = await b3.newContext({ javaScriptEnabled: js, viewport: { width: 320, height: 800 } });
      const page = await ctx.newPage();
      await page.goto(link);
      let pagesSeen = 0;
      let clean = true;
      const asked = new Set();
      for (let step = 0; step < 12 && !page.url().endsWith("/done"); step++) {
        pagesSeen += 1;
        for (const item of await page.locator("[data-item]:not([hidden])").all()) {
          asked.add(await item.getAttribute("data-item"));
          const radios = item.locator("input[type=radio]");
          const boxes = item.locator("input[type=checkbox]");
          const text = item.locator("input[type=text]");
          const date = item.locator("input[type=date]");
          if (await radios.count()) {
            if (!(await item.locator("input[type=radio]:checked").count())) await radios.first().check();
          } else if (await boxes.count()) {
            if (!(await item.locator("input[type=checkbox]:checked").count())) await boxes.first().check();
          } else if (await text.count()) {
            if (!(await text.inputValue())) await text.fill("0");
          } else if (await date.count()) {
            if (!(await date.inputValue())) await date.fill("2026-01-01");
          }
        }
        const wide = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
        if (wide) clean = false;
        // The first button, as Enter in a field would press it.
        await page.locator("button[name=go]").first().click();
        await page.waitForLoadState("load");
      }
      check(`${q}: answered to the receipt (${pagesSeen} pages, ${how})`, page.url().endsWith("/done"), page.url());
      check(`${q}: no page scrolls sideways at 320 px (${how})`, clean);
      // The first option of each question is "yes": every follow-up
      // question it brings must be asked before the page moves on.
      for (const follow of followUps[q] || []) {
        check(`${q}: the follow-up question ${follow} is asked (${how})`, asked.has(follow), [...asked].join(" "));
      }
      await ctx.close();
      }
      // The first page again with JavaScript, for axe-core.
      const actx = await b3.newContext({ viewport: { width: 320, height: 800 }, bypassCSP: true });
      const ap = await actx.newPage();
      await ap.goto(invite(q, "D002"));
      await axe(ap, `${q}, first page`);
      await actx.close();
    }
  } finally {
    await b3.close();
    s3.kill();
  }
}

finish();
