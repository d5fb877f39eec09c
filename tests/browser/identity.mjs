// Browser and accessibility tests of the logins through an OpenID
// Provider, in Debian's Chromium driven by playwright-core, with axe-core
// at WCAG 2.2 AA.
//
//   PROM_BIN=target/debug/prom node tests/browser/identity.mjs
//
// It starts the test provider (tests/oidc/provider.mjs, installed by
// `npm ci --prefix tests/oidc`) and `prom serve --demo` with staff single
// sign-on and patient login through it; a nurse logs in through the
// provider and lands in the queue, then logs out at the provider too; a
// patient opens the demo's link, logs in from "my data", says yes to the
// link and sees their data. axe-core runs on prom's new pages (320 px for
// the patient's, which must not scroll sideways). It ends with "N passed,
// N failed".

import { spawn } from "node:child_process";
import { join } from "node:path";
import { axe, check, finish, launch, noSidewaysScroll, root, shots, startServer } from "./common.mjs";

const op = spawn("node", [join(root, "tests", "oidc", "provider.mjs")], { stdio: ["ignore", "pipe", "ignore"] });
const opPort = await new Promise((resolve, reject) => {
  let out = "";
  const timer = setTimeout(() => reject(new Error(`the provider did not start: ${out}`)), 30000);
  op.stdout.on("data", (d) => {
    out += d.toString();
    const m = out.match(/listening (\d+)/);
    if (m) {
      clearTimeout(timer);
      resolve(m[1]);
    }
  });
});
const issuer = `http://127.0.0.1:${opPort}`;
const { server, link } = await startServer({}, [
  "--staff-oidc-issuer", issuer, "--staff-oidc-client-id", "prom-staff",
  "--staff-oidc-client-secret", "staff-secret-for-tests-only", "--staff-oidc-scopes", "email,profile,groups",
  "--staff-oidc-role", "onko-sygepleje=demo:clinician", "--staff-oidc-acr", "mfa",
  "--patient-oidc-issuer", issuer, "--patient-oidc-client-id", "prom-patient",
  "--patient-oidc-client-secret", "patient-secret-for-tests-only", "--patient-oidc-scopes", "profile,cpr",
  "--patient-oidc-identifier", "dk_cpr", "--patient-oidc-acr", "https://data.gov.dk/concept/core/nsis/loa/Substantial",
]);
const base = link.replace(/\/a\/.*$/, "");
for (const [redirect, back] of [[`${base}/clinic/sso/callback`, `${base}/clinic/login`], [`${base}/me/login/callback`, `${base}/`]]) {
  await fetch(`${issuer}/test/client?redirect=${redirect}&post_logout=${back}`, { method: "POST" });
}

const browser = await launch();
try {
  // A nurse, through the hospital's login.
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await ctx.newPage();
  await page.goto(`${base}/clinic/login`);
  await axe(page, "the login page with the hospital's login");
  await page.click("text=Log ind med hospitalets login");
  check("the hospital's login is the provider's page", page.url().startsWith(issuer), page.url());
  await page.fill("#login", "nurse");
  await page.fill("#password", "any");
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/clinic`, { timeout: 10000 }).catch(() => {});
  check("the nurse lands in the queue", page.url() === `${base}/clinic`, page.url());
  check("named in the workspace", ((await page.textContent("nav")) || "").includes("Nina Nurse"));
  await axe(page, "the queue after the hospital's login");
  await page.screenshot({ path: join(shots, "clinic-sso-1280.png"), fullPage: true });
  await page.click("form[action='/clinic/logout'] button");
  check("logging out goes on to the provider's logout", page.url().startsWith(`${issuer}/session/end`), page.url());
  await page.goto(`${base}/clinic`);
  check("and prom's session is over", page.url().includes("/clinic/login"), page.url());
  await ctx.close();

  // A patient on a small phone: the link, then "my data" through MitID.
  const pctx = await browser.newContext({ viewport: { width: 320, height: 640 }, bypassCSP: true });
  const p = await pctx.newPage();
  await p.goto(link);
  await p.goto(`${base}/me`);
  check("an invitation's session shows no history", (await p.locator("svg.chart").count()) === 0);
  check("it offers the login", (await p.locator("a[href='/me/login']").count()) === 1);
  await axe(p, "my data before the login (320 px)");
  await noSidewaysScroll(p, "my data before the login");
  await p.click("a[href='/me/login']");
  check("the login is the provider's page", p.url().startsWith(issuer), p.url());
  await p.fill("#login", "patient1");
  await p.fill("#password", "any");
  await p.click("button[type=submit]");
  await p.waitForURL(`${base}/me/connect`, { timeout: 10000 }).catch(() => {});
  check("prom asks before linking the login to the answers", p.url() === `${base}/me/connect`, p.url());
  await axe(p, "the question whether to link (320 px)");
  await noSidewaysScroll(p, "the question whether to link");
  await p.screenshot({ path: join(shots, "patient-connect-320.png"), fullPage: true });
  await p.click("button[name=answer]");
  check("then my data", p.url() === `${base}/me`, p.url());
  check("with the clinic's part labelled", (await p.locator(".clinic-part").count()) === 1 && (await p.getAttribute(".clinic-part", "aria-label")) === (await p.textContent(".clinic-part > h2")));
  check("and a chart from the demo's history", (await p.locator("svg.chart").count()) > 0);
  await axe(p, "a person's my data (320 px)");
  await noSidewaysScroll(p, "a person's my data");
  await pctx.close();
} finally {
  await browser.close();
  server.kill();
  op.kill();
}
finish();
