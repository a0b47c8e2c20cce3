// Paper Search web UI: plain JavaScript, no dependencies. Every piece of
// server data reaches the page through textContent or a checked href,
// never through innerHTML, so paper text cannot inject markup.
"use strict";

(function () {
  const FOLD = 300; // characters of an abstract shown before [more]
  const MODES = { dense: "SEARCH_MODE_DENSE", lexical: "SEARCH_MODE_LEXICAL", hybrid: "SEARCH_MODE_HYBRID" };

  const $ = (id) => document.getElementById(id);
  const form = $("search-form");
  const queryBox = $("query");
  const kBox = $("k");
  const catBox = $("category");
  const modeBox = $("mode");
  const button = $("search-button");
  const statusLine = $("status");
  const errorBox = $("error");
  const header = $("results-header");
  const list = $("results");

  let generation = 0; // the newest request wins; older answers are dropped
  let controller = null;

  // el builds an element with text content and attributes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c) e.append(c);
    return e;
  }

  // decodeEntities turns the HTML character references found in arXiv
  // metadata (&amp;, &#34;, &#x27;) into characters, for display as text.
  const NAMED = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };
  function decodeEntities(s) {
    return String(s || "").replace(/&(#[0-9]{1,7}|#x[0-9a-f]{1,6}|[a-z]+);/gi, (m, ref) => {
      if (ref[0] === "#") {
        const n = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
        return n > 0 && n <= 0x10ffff && !(n >= 0xd800 && n <= 0xdfff) ? String.fromCodePoint(n) : m;
      }
      const c = NAMED[ref.toLowerCase()];
      return c === undefined ? m : c;
    });
  }

  // clean prepares paper text for display: entities decoded, arXiv's hard
  // line breaks joined.
  function clean(s) {
    return decodeEntities(s).replace(/\s+/g, " ").trim();
  }

  // safeURL keeps only links to arxiv.org.
  function safeURL(u) {
    try {
      const url = new URL(u);
      return url.protocol === "https:" && url.hostname === "arxiv.org" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  // --- state in the URL ------------------------------------------------

  function readState() {
    const p = new URLSearchParams(location.search);
    return {
      q: p.get("q") || "",
      k: p.get("k") || "10",
      cat: p.get("cat") || "",
      mode: p.get("mode") || "",
      similar: p.get("similar") || "",
    };
  }

  function stateURL(s) {
    const p = new URLSearchParams();
    if (s.similar) p.set("similar", s.similar);
    else if (s.q) p.set("q", s.q);
    if (s.k && s.k !== "10") p.set("k", s.k);
    if (s.cat) p.set("cat", s.cat);
    if (s.mode && !s.similar) p.set("mode", s.mode);
    const q = p.toString();
    return location.pathname + (q ? "?" + q : "");
  }

  function formState() {
    return { q: queryBox.value, k: kBox.value.trim(), cat: catBox.value, mode: modeBox.value, similar: "" };
  }

  function fillForm(s) {
    if (!s.similar) queryBox.value = s.q;
    kBox.value = s.k || "10";
    ensureOption(catBox, s.cat);
    catBox.value = s.cat;
    modeBox.value = MODES[s.mode] ? s.mode : "";
  }

  // ensureOption adds a category from a shared URL before the list loads.
  function ensureOption(select, value) {
    if (!value) return;
    for (const o of select.options) if (o.value === value) return;
    select.append(el("option", { value: value, text: value }));
  }

  // --- talking to the API ------------------------------------------------

  // describeError turns an error body into readable text lines: the
  // gateway's {code, message, details} with field violations, or the
  // seed-style {"detail": ...} with its 422 list.
  function describeError(status, body) {
    const lines = [];
    if (body && typeof body === "object") {
      if (typeof body.message === "string" && body.message) {
        const violations = [];
        for (const d of body.details || []) {
          for (const v of (d && d.field_violations) || []) violations.push(v);
        }
        if (violations.length) {
          lines.push("Please fix:");
          for (const v of violations) lines.push(fieldName(v.field) + ": " + v.description);
        } else {
          lines.push(body.message);
        }
      } else if (Array.isArray(body.detail)) {
        lines.push("Please fix:");
        for (const d of body.detail) {
          const loc = Array.isArray(d.loc) ? d.loc.filter((x) => x !== "body").join(".") : "";
          lines.push((loc ? loc + ": " : "") + (d.msg || JSON.stringify(d)));
        }
      } else if (typeof body.detail === "string") {
        lines.push(body.detail);
      }
    }
    if (!lines.length) lines.push("The server answered " + status + ".");
    return lines;
  }

  const FIELD_NAMES = { k: "Results", query: "Query", categories: "Category", mode: "Mode", nprobe: "nprobe", id: "Paper id" };
  function fieldName(f) {
    const base = String(f || "").replace(/\[\d+\]$/, "");
    return FIELD_NAMES[base] || f;
  }

  async function call(method, path, body, signal) {
    let resp;
    try {
      resp = await fetch(path, {
        method: method,
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
        signal: signal,
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw { lines: ["Could not reach the server: " + e.message] };
    }
    let data = null;
    const text = await resp.text();
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      const lines = describeError(resp.status, data);
      if (resp.status === 429) lines.push("The server is busy; try again in a moment.");
      throw { lines: lines };
    }
    return data;
  }

  // --- rendering ---------------------------------------------------------

  function showError(lines) {
    errorBox.replaceChildren();
    if (lines.length > 1) {
      errorBox.append(el("div", { text: lines[0] }));
      const ul = el("ul");
      for (const l of lines.slice(1)) ul.append(el("li", { text: l }));
      errorBox.append(ul);
    } else {
      errorBox.append(el("div", { text: lines[0] }));
    }
    errorBox.hidden = false;
  }

  function clearOutput() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
    header.hidden = true;
    header.replaceChildren();
    list.replaceChildren();
  }

  function renderAbstract(text) {
    const p = el("p", { class: "abstract" });
    const full = clean(text);
    if (full.length <= FOLD) {
      p.textContent = full;
      return p;
    }
    const span = el("span", { text: full.slice(0, FOLD).trimEnd() + "…" });
    const toggle = el("button", { type: "button", class: "link-button", "aria-expanded": "false", text: "[more]" });
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") === "true";
      span.textContent = open ? full.slice(0, FOLD).trimEnd() + "…" : full;
      toggle.textContent = open ? "[more]" : "[less]";
      toggle.setAttribute("aria-expanded", String(!open));
    });
    p.append(span, " ", toggle);
    return p;
  }

  function renderAuthors(authors) {
    if (!authors || !authors.length) return null;
    const shown = authors.slice(0, 8).map(clean);
    let text = shown.join(", ");
    if (authors.length > shown.length) text += ", et al. (" + authors.length + " authors)";
    return el("div", { class: "authors", text: text });
  }

  function renderResult(r) {
    const li = el("li", { class: "result", "data-id": r.id });
    const score = typeof r.score === "number" ? r.score.toFixed(4) : String(r.score);
    const head = el("div", { class: "result-head" },
      el("span", { class: "rank", text: "#" + r.rank }),
      el("span", { class: "score", title: "similarity score", text: "[" + score + "]" }));
    const title = el("h2", { class: "title" });
    const abs = safeURL(r.abs_url);
    const titleText = clean(r.title) || r.id;
    if (abs) title.append(el("a", { href: abs, target: "_blank", rel: "noopener noreferrer", text: titleText }));
    else title.append(titleText);
    const pdf = safeURL(r.pdf_url);
    if (pdf) title.append(el("a", { class: "pdf", href: pdf, target: "_blank", rel: "noopener noreferrer", text: "[pdf]" }));
    head.append(title);

    const meta = el("div", { class: "meta" });
    if (r.primary_category) meta.append(el("span", { class: "primary", title: "primary category", text: r.primary_category }));
    const others = (r.categories || []).filter((c) => c !== r.primary_category);
    if (others.length) meta.append(el("span", { class: "cats", title: "cross-listed in", text: others.join(" ") }));
    meta.append(el("span", { class: "paper-id", text: r.id }));
    if (r.update_date) meta.append(el("time", { class: "date", datetime: r.update_date, text: r.update_date }));

    const similar = el("button", { type: "button", class: "similar-button", text: "Similar papers" });
    similar.addEventListener("click", () => navigate({ similar: r.id, k: kBox.value.trim(), cat: catBox.value, q: "", mode: "" }));

    li.append(head, meta, renderAuthors(r.authors) || "", renderAbstract(r.abstract), el("div", { class: "actions" }, similar));
    return li;
  }

  function renderResults(data, seconds, heading) {
    const results = (data && data.results) || [];
    header.replaceChildren();
    if (heading) header.append(heading);
    const n = results.length;
    header.append(el("div", {},
      el("span", { class: "count", text: n + (n === 1 ? " result" : " results") }),
      " (" + seconds.toFixed(2) + "s)"));
    if (data && data.partial) {
      const shards = (data.missing_shards || []).join(", ");
      header.append(el("div", { class: "notice", text: "Some shards could not be searched (" + shards + "): these results are incomplete." }));
    }
    header.hidden = false;
    list.replaceChildren(...results.map(renderResult));
    if (!n) list.append(el("li", { class: "empty", text: "No results found." }));
  }

  // --- actions -------------------------------------------------------------

  function begin() {
    generation++;
    if (controller) controller.abort();
    controller = new AbortController();
    clearOutput();
    statusLine.textContent = "Searching...";
    button.disabled = true;
    return { gen: generation, signal: controller.signal, started: performance.now() };
  }

  function end(run) {
    if (run.gen !== generation) return false;
    statusLine.textContent = "";
    button.disabled = false;
    return true;
  }

  async function runSearch(s) {
    const q = s.q.trim();
    if (!q) {
      clearOutput();
      showError(["Please enter a query or an abstract."]);
      return;
    }
    const run = begin();
    const body = { query: q, k: Number(s.k || 10) };
    if (s.k !== "" && !/^-?\d+$/.test(s.k)) body.k = s.k; // let the server say what is wrong
    if (s.cat) body.categories = [s.cat];
    if (MODES[s.mode]) body.mode = MODES[s.mode];
    try {
      const data = await call("POST", "/v1/search", body, run.signal);
      if (!end(run)) return;
      renderResults(data, (performance.now() - run.started) / 1000);
    } catch (e) {
      if (e && e.name === "AbortError") return;
      if (!end(run)) return;
      showError(e.lines || [String(e)]);
    }
  }

  async function runSimilar(s) {
    const run = begin();
    const id = encodeURIComponent(s.similar);
    const params = new URLSearchParams();
    params.set("k", s.k || "10");
    if (s.cat) params.append("categories", s.cat);
    try {
      const [paper, data] = await Promise.all([
        call("GET", "/v1/papers/" + id, null, run.signal).catch(() => null),
        call("GET", "/v1/papers/" + id + "/similar?" + params.toString(), null, run.signal),
      ]);
      if (!end(run)) return;
      const heading = el("div", { class: "similar-to" }, "Papers similar to ");
      const abs = paper && safeURL(paper.abs_url);
      const name = paper ? clean(paper.title) || s.similar : s.similar;
      heading.append(abs ? el("a", { href: abs, target: "_blank", rel: "noopener noreferrer", text: name }) : el("strong", { text: name }));
      heading.append(" (" + s.similar + ")");
      renderResults(data, (performance.now() - run.started) / 1000, heading);
    } catch (e) {
      if (e && e.name === "AbortError") return;
      if (!end(run)) return;
      showError(e.lines || [String(e)]);
    }
  }

  function run(s) {
    fillForm(s);
    if (s.similar) return runSimilar(s);
    if (s.q.trim()) return runSearch(s);
    clearOutput();
  }

  // navigate records s in the URL (so it can be shared and the back button
  // works) and runs it.
  function navigate(s) {
    const url = stateURL(s);
    if (url !== location.pathname + location.search) history.pushState(null, "", url);
    run(s);
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const s = formState();
    if (!s.q.trim()) {
      clearOutput();
      showError(["Please enter a query or an abstract."]);
      return;
    }
    navigate(s);
  });
  queryBox.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("popstate", () => run(readState()));

  // Categories and deployment info decorate the page; failures leave the
  // search usable.
  call("GET", "/v1/categories").then((data) => {
    const current = catBox.value;
    const opts = [el("option", { value: "", text: "All categories" })];
    for (const c of (data && data.categories) || []) {
      opts.push(el("option", { value: c.category, text: c.category + " (" + c.total + ")" }));
    }
    catBox.replaceChildren(...opts);
    ensureOption(catBox, current);
    catBox.value = current;
    catBox.dataset.loaded = "true";
  }).catch(() => {
    catBox.dataset.loaded = "error";
  });
  call("GET", "/v1/info").then((info) => {
    if (!info) return;
    const n = Number(info.papers_indexed || 0).toLocaleString("en-US");
    $("info").textContent = n + " papers · model " + info.model + " on " + info.device + " ·";
  }).catch(() => {});

  run(readState());
})();
