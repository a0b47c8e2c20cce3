// Drives the web UI in a real headless Chromium. Run by
// internal/webui/browser_test.go, which starts a gateway with test data and
// sets BASE_URL, CHROMIUM and SCREENSHOT_DIR. Exits non-zero on the first
// failed check; console errors (CSP violations included) fail the run.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.BASE_URL;
const shots = process.env.SCREENSHOT_DIR;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
assert.ok(base && shots, "BASE_URL and SCREENSHOT_DIR must be set");
fs.mkdirSync(shots, { recursive: true });

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "webui-e2e-profile-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
  viewport: { width: 1280, height: 900 },
});
const problems = [];
const step = (name) => console.log("step: " + name);

function watch(page) {
  page.on("console", (m) => {
    // A 4xx answer the page asked for on purpose is logged by Chromium as
    // a failed resource load; everything else is a problem.
    if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      problems.push("console: " + m.text());
    }
  });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  return page;
}

async function search(page, query) {
  await page.fill("#query", query);
  await page.press("#query", "Control+Enter");
  await page.waitForSelector("#results-header:not([hidden]), #error:not([hidden])");
}

const resultIds = (page) => page.$$eval("#results li.result", (lis) => lis.map((li) => li.dataset.id));

try {
  const page = watch(context.pages()[0] || (await context.newPage()));

  step("the page loads, with categories from /v1/categories");
  await page.goto(base + "/");
  await page.waitForSelector("#category[data-loaded=true]");
  const options = await page.$$eval("#category option", (os) => os.map((o) => o.textContent));
  assert.ok(options.length > 5 && options[0] === "All categories", "category options: " + options);
  await page.waitForFunction(() => document.getElementById("info").textContent.includes("papers"));

  step("an empty query is refused in the page");
  await page.click("#search-button");
  assert.equal((await page.textContent("#error")).trim(), "Please enter a query or an abstract.");

  step("Ctrl+Enter searches; results show rank, score, links, category, id, authors, date");
  await search(page, "large language models reasoning");
  const headerText = await page.textContent("#results-header");
  assert.match(headerText, /^\d+ results \(\d+\.\d\ds\)$/, "header: " + headerText);
  assert.equal(await page.isEnabled("#search-button"), true);
  const first = await page.$eval("#results li.result", (li) => ({
    rank: li.querySelector(".rank").textContent,
    score: li.querySelector(".score").textContent,
    href: li.querySelector(".title a").getAttribute("href"),
    target: li.querySelector(".title a").getAttribute("target"),
    pdf: li.querySelector("a.pdf").getAttribute("href"),
    primary: li.querySelector(".primary").textContent,
    id: li.querySelector(".paper-id").textContent,
    date: li.querySelector(".date").textContent,
    authors: li.querySelector(".authors").textContent,
  }));
  assert.equal(first.rank, "#1");
  assert.match(first.score, /^\[-?\d\.\d{4}\]$/);
  assert.equal(first.href, "https://arxiv.org/abs/" + first.id);
  assert.equal(first.pdf, "https://arxiv.org/pdf/" + first.id);
  assert.equal(first.target, "_blank");
  assert.match(first.primary, /^[a-z-]+(\.[A-Za-z-]+)?$/);
  assert.match(first.date, /^\d{4}-\d{2}-\d{2}$/);
  assert.ok(first.authors.length > 0);
  await page.screenshot({ path: path.join(shots, "webui-desktop.png"), fullPage: false });

  step("the query is in the URL, and the URL alone brings the results back");
  const shared = page.url();
  assert.match(shared, /\?q=large\+language\+models\+reasoning/);
  const before = await resultIds(page);
  const other = watch(await context.newPage());
  await other.goto(shared);
  await other.waitForSelector("#results li.result");
  assert.deepEqual(await resultIds(other), before);
  assert.equal(await other.inputValue("#query"), "large language models reasoning");
  await other.close();

  step("markup in paper metadata is shown as text; entities are decoded");
  await search(page, "escaping entities titles quoted ampersand");
  const xss = await page.$eval('#results li.result[data-id="2512.99991"]', (li) => ({
    title: li.querySelector(".title a").textContent,
    abstract: li.querySelector(".abstract span").textContent,
    imgs: li.querySelectorAll("img, script").length,
  }));
  assert.equal(xss.title, 'Escaping <img src=x onerror="window.__xss=1"> & entities in titles');
  assert.ok(xss.abstract.startsWith('An abstract with "quoted" words, a literal <script>'), xss.abstract);
  assert.equal(xss.imgs, 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);

  step("long abstracts fold behind [more]/[less]");
  const li = page.locator('#results li.result[data-id="2512.99991"]');
  const folded = await li.locator(".abstract span").textContent();
  assert.ok(folded.endsWith("…") && folded.length <= 301, "folded: " + folded.length);
  await li.locator(".abstract button").click();
  assert.equal(await li.locator(".abstract button").textContent(), "[less]");
  assert.ok((await li.locator(".abstract span").textContent()).length > 320);
  await li.locator(".abstract button").click();
  assert.equal(await li.locator(".abstract button").textContent(), "[more]");

  step("similar papers of a result, never the paper itself; back returns");
  await search(page, "large language models reasoning");
  const source = (await resultIds(page))[0];
  await page.click("#results li.result >> nth=0 >> .similar-button");
  await page.waitForSelector(".similar-to");
  assert.ok(page.url().includes("similar=" + encodeURIComponent(source)), page.url());
  const similar = await resultIds(page);
  assert.ok(similar.length > 0 && !similar.includes(source), "similar: " + similar);
  assert.match(await page.textContent(".similar-to"), /^Papers similar to .+ \(/);
  await page.goBack();
  await page.waitForSelector("#results li.result");
  assert.deepEqual(await resultIds(page), before);

  step("an old-style id with a slash works in the similar view");
  await page.goto(base + "/?similar=" + encodeURIComponent("hep-th/9901001") + "&k=5");
  await page.waitForSelector(".similar-to");
  assert.match(await page.textContent(".similar-to"), /Strings and branes/);
  assert.equal((await resultIds(page)).length, 5);

  step("a server-side validation error is shown readably");
  await page.goto(base + "/");
  await page.fill("#k", "500");
  await search(page, "quantum");
  const err = await page.textContent("#error");
  assert.match(err, /Please fix:/);
  assert.match(err, /Results: 500 is out of range: use 1\.\.100/);
  assert.ok(!err.includes("[object Object]"));
  await page.screenshot({ path: path.join(shots, "webui-error.png") });

  step("a screenshot for the README");
  await page.fill("#k", "10");
  await page.selectOption("#category", "cs.CV");
  await search(page, "image segmentation with vision transformers");
  await page.waitForSelector("#results li.result");
  await page.screenshot({ path: path.join(shots, "webui-search.png") });
  await page.selectOption("#category", "");

  step("category filter and search mode");
  await page.fill("#k", "10");
  await page.selectOption("#category", "quant-ph");
  await page.selectOption("#mode", "lexical");
  await search(page, "quantum");
  const cats = await page.$$eval("#results li.result", (lis) => lis.map((li) => li.querySelector(".meta").textContent));
  assert.ok(cats.length > 0 && cats.every((c) => c.includes("quant-ph")), "categories: " + cats);
  assert.match(page.url(), /cat=quant-ph/);
  assert.match(page.url(), /mode=lexical/);

  step("a phone-sized screen: no horizontal scrolling");
  const phone = watch(await context.newPage());
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(shared);
  await phone.waitForSelector("#results li.result");
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, "page is " + overflow + "px wider than the phone screen");
  await phone.screenshot({ path: path.join(shots, "webui-phone.png") });
  await phone.close();

  step("the API docs page renders /openapi.json");
  await page.goto(base + "/docs");
  await page.waitForSelector("section.op");
  const ops = await page.$$eval("section.op .path", (ps) => ps.map((p) => p.textContent));
  for (const p of ["/v1/search", "/v1/papers/{id}/similar", "/search", "/health"]) assert.ok(ops.includes(p), "docs lack " + p);
  await page.click("section.op >> nth=0 >> summary");
  await page.screenshot({ path: path.join(shots, "webui-docs.png"), fullPage: false });

  assert.deepEqual(problems, [], "browser reported problems");
  console.log("webui e2e: all checks passed; screenshots in " + shots);
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
