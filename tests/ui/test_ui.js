#!/usr/bin/env node
/*
 * The web UI in Debian's headless Chromium (puppeteer-core): the jobs page
 * lists a job created through the API; its page shows its instances turn
 * RUNNING; a pending task's page gives its reason; the pools page has the
 * pool with its bars; the cluster page draws every host; placement explain
 * answers; the page comes back by itself after the daemon restarts.
 * Screenshots of each page go to OUTDIR; a failed check says which.
 *
 * usage: test_ui.js HTTP_PORT JOB_ID PENDING_JOB_ID POOL_PATH OUTDIR
 *   (with the line "RESTART" on stdout it waits for a line on stdin: the
 *   harness restarts the daemon in between)
 */
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");
const puppeteer = require("puppeteer-core");

const [port, jobId, pendingId, poolPath, outDir] = process.argv.slice(2);
const base = `http://127.0.0.1:${port}/ui/`;
const checks = [];

function check(what, ok, detail) {
  checks.push(what);
  if (!ok) throw new Error(`check failed: ${what}${detail ? ": " + detail : ""}`);
  console.log("ok - " + what);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(outDir, name + ".png"), fullPage: true });
}

/* Navigates to hash and waits for the page's first render of it. */
async function open(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction((h) => document.body.dataset.rendered === h, { timeout: 20000, polling: 100 },
                             hash);
}

async function waitText(page, sel, re, ms) {
  await page.waitForFunction((s, r) => {
    const e = document.querySelector(s);
    return e && new RegExp(r).test(e.textContent);
  }, { timeout: ms || 20000, polling: 100 }, sel, re.source);
}

function stdinLine() {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin });
    rl.once("line", () => { rl.close(); resolve(); });
  });
}

(async () => {
  fs.mkdirSync(outDir, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    /* a page under test is never "in the background": its timers (the
     * UI's polls) must not be throttled on a loaded machine */
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
           "--disable-backgrounding-occluded-windows"],
  });
  /* a step that never ends fails the test with what the page showed */
  const watchdog = setTimeout(async () => {
    console.error("watchdog: no progress for 150 s after: " + checks.join(", "));
    try {
      const pages = await browser.pages();
      const p = pages[pages.length - 1];
      console.error("page status: " + await p.$eval("#status", (e) => e.textContent));
      await p.screenshot({ path: path.join(outDir, "stuck.png") });
    } catch (e) { console.error("(no page state: " + e.message + ")"); }
    process.exit(1);
  }, 150000);
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(base + "#/jobs");
    await page.waitForFunction(() => document.body.dataset.rendered === "#/jobs",
                               { timeout: 20000, polling: 100 });
    await waitText(page, "#jobs", new RegExp(jobId));
    check("the jobs page lists the job", true);
    await shot(page, "jobs");

    /* the job's page, from its row */
    await page.click(`tr[data-job="${jobId}"]`);
    await page.waitForFunction((id) => document.body.dataset.rendered === "#/job/" + id,
                               { timeout: 20000, polling: 100 }, jobId);
    await waitText(page, "#legend", /RUNNING 4/, 60000);
    check("the job's instances turn RUNNING (4 cells)", true);
    const cells = await page.$eval("#inst", (c) => c.width * c.height);
    check("the instance picture is drawn", cells > 0);
    await waitText(page, "#cfg", /name: e2e-v2/);
    await page.select("#ver", "1");
    await waitText(page, "#cfg", /name: e2e\n/);
    check("the job's config versions: v2 current, v1 on demand", true);
    await shot(page, "job");

    /* a task that cannot be placed says why */
    await open(page, `#/task/${pendingId}/0`);
    await waitText(page, "#task", /PENDING/);
    const reason = await page.$eval("#reason", (e) => e.textContent.trim());
    const message = await page.$eval("#message", (e) => e.textContent.trim());
    check("a pending task gives its reason", reason.length + message.length > 0,
          `reason "${reason}", message "${message}"`);
    await shot(page, "task");

    await open(page, "#/pools");
    await waitText(page, "#pools", new RegExp(poolPath.replace(/\//g, "\\/")));
    const bars = await page.$$eval("#pools .bar", (b) => b.length);
    check("the pools page shows the pool with its bars", bars >= 4, `${bars} bars`);
    await shot(page, "pools");

    await open(page, "#/cluster");
    await waitText(page, "#count", /4 hosts/);
    check("the cluster page draws every host", true);
    await shot(page, "cluster");

    await open(page, "#/placement");
    await page.click("#go");
    await waitText(page, "#out", /host|count|placed/i);
    check("placement explain answers", true);
    await shot(page, "placement");

    /* the daemon restarts: the page says so, then comes back by itself */
    await open(page, "#/job/" + jobId);
    await page.evaluate(() => {
      window.wasDown = false;
      setInterval(() => {
        if (document.getElementById("status").classList.contains("down")) window.wasDown = true;
      }, 50);
    });
    console.log("RESTART");
    await stdinLine();
    await page.waitForFunction(() => window.wasDown &&
                               /^updated/.test(document.getElementById("status").textContent),
                               { timeout: 60000, polling: 100 });
    await waitText(page, "#legend", /RUNNING 4/, 30000);
    check("the job page says the daemon is gone, then comes back after its restart", true);
    check("no script error on any page", errors.length === 0, errors.join("; "));
  } catch (e) {
    /* what the page showed when the check failed */
    try {
      const pages = await browser.pages();
      const p = pages[pages.length - 1];
      console.error("page " + await p.evaluate(() => location.hash) + ", status: " +
                    await p.$eval("#status", (x) => x.textContent) + "\n" +
                    (await p.$eval("#main", (x) => x.innerText)).slice(0, 1500));
      await p.screenshot({ path: path.join(outDir, "failed.png"), fullPage: true });
    } catch (e2) { console.error("(no page state: " + e2.message + ")"); }
    throw e;
  } finally {
    clearTimeout(watchdog);
    /* a browser slow to go (a loaded machine) does not hold the test */
    await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 10000))]);
  }
})().then(() => process.exit(0), (e) => {
  console.error(e.message);
  console.error("passed before it: " + checks.join(", "));
  process.exit(1);
}); /* (exit at once: stdin, read once, would keep the process alive) */
