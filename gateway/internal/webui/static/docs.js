// API documentation page: renders /openapi.json (OpenAPI 2.0) as plain
// HTML, with a small "try it" form per operation. No dependencies; all
// document text goes through textContent.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  let doc = null;

  function resolve(schema) {
    let s = schema || {};
    for (let i = 0; s.$ref && i < 20; i++) {
      const name = s.$ref.replace(/^#\/definitions\//, "");
      s = Object.assign({ "x-name": name }, doc.definitions[name] || {});
    }
    return s;
  }

  function typeName(schema) {
    const s = resolve(schema);
    if (s.type === "array") return typeName(s.items) + "[]";
    if (s.enum) return (s.type || "string") + " (" + s.enum.join(" | ") + ")";
    if (s["x-name"]) return s["x-name"];
    return s.format ? s.type + " (" + s.format + ")" : s.type || "object";
  }

  // schemaList renders an object's fields, nested objects included.
  function schemaList(schema, depth) {
    const s = resolve(schema);
    const props = s.type === "array" ? resolve(s.items).properties : s.properties;
    if (!props || depth > 4) return null;
    const ul = el("ul", { class: "schema" });
    for (const [name, p] of Object.entries(props)) {
      const li = el("li", {}, el("code", { text: name }), " ", el("span", { class: "type", text: typeName(p) }));
      const d = p.description || p.title || resolve(p).description;
      if (d) li.append(" ", el("span", { class: "desc", text: "— " + d }));
      const sub = schemaList(p, depth + 1);
      if (sub) li.append(sub);
      ul.append(li);
    }
    return ul;
  }

  const EXAMPLES = {
    query: "graph neural networks for molecule property prediction",
    abstract: "We propose a transformer model for long documents.",
    texts: ["sparse attention for long sequences"],
    k: 5,
    id: "2503.01234",
    title: "A paper title",
  };

  function example(schema, name, depth) {
    if (name in EXAMPLES) return EXAMPLES[name];
    const s = resolve(schema);
    if (depth > 4) return null;
    if (s.type === "array") {
      const item = example(s.items, "", depth + 1);
      return item === "" || item === null ? [] : [item];
    }
    if (s.properties) {
      const o = {};
      for (const [n, p] of Object.entries(s.properties)) o[n] = example(p, n, depth + 1);
      return o;
    }
    if (s.enum) return s.enum[0];
    if (s.type === "integer" || s.type === "number") return 0;
    if (s.type === "boolean") return false;
    return "";
  }

  function tryForm(method, path, op) {
    const details = el("details", { class: "try" }, el("summary", { text: "Try it" }));
    const inputs = {};
    const params = op.parameters || [];
    for (const p of params) {
      if (p.in === "body") continue;
      const input = el("input", { name: p.name, placeholder: p.in === "path" ? "required" : "optional" });
      if (p.name === "id") input.value = "2503.01234";
      inputs[p.name] = { input: input, where: p.in };
      details.append(el("label", {}, p.name + " (" + p.in + ")", input));
    }
    let bodyBox = null;
    const bodyParam = params.find((p) => p.in === "body");
    if (bodyParam) {
      bodyBox = el("textarea", { rows: "6" });
      bodyBox.value = JSON.stringify(example(bodyParam.schema, "", 0), null, 2);
      details.append(el("label", {}, "JSON body", bodyBox));
    }
    let tokenBox = null;
    if (op.security && op.security.length) {
      tokenBox = el("input", { type: "password", autocomplete: "off" });
      details.append(el("label", {}, "Write token (sent as Authorization: Bearer …)", tokenBox));
    }
    const out = el("pre", { hidden: "" });
    const send = el("button", { type: "button", text: "Send" });
    send.addEventListener("click", async () => {
      let url = path;
      const query = new URLSearchParams();
      for (const [name, { input, where }] of Object.entries(inputs)) {
        const v = input.value.trim();
        if (where === "path") url = url.replace("{" + name + "}", encodeURIComponent(v));
        else if (v) query.append(name, v);
      }
      if ([...query].length) url += "?" + query.toString();
      const headers = {};
      if (bodyBox) headers["Content-Type"] = "application/json";
      if (tokenBox && tokenBox.value) headers.Authorization = "Bearer " + tokenBox.value;
      out.hidden = false;
      out.textContent = method.toUpperCase() + " " + url + " …";
      try {
        const resp = await fetch(url, { method: method.toUpperCase(), headers: headers, body: bodyBox ? bodyBox.value : undefined });
        const text = await resp.text();
        let shown = text;
        try {
          shown = JSON.stringify(JSON.parse(text), null, 2);
        } catch (e) {
          /* not JSON: show as is */
        }
        out.textContent = method.toUpperCase() + " " + url + "\n" + resp.status + " " + resp.statusText + "\n\n" + shown;
      } catch (e) {
        out.textContent = "Request failed: " + e.message;
      }
    });
    details.append(send, out);
    return details;
  }

  function operation(method, path, op) {
    const anchor = (method + path).replace(/[^a-z0-9]+/gi, "-");
    const sec = el("section", { class: "op", id: anchor },
      el("h2", {}, el("span", { class: "method " + method, text: method.toUpperCase() }), el("span", { class: "path", text: path })));
    if (op.summary) sec.append(el("p", { text: op.summary }));
    if (op.description && op.description !== op.summary) sec.append(el("p", { class: "desc", text: op.description }));
    if (op.security && op.security.length) sec.append(el("p", { class: "desc", text: "Needs the server's write token: Authorization: Bearer <token>." }));
    const params = (op.parameters || []).filter((p) => p.in !== "body");
    if (params.length) {
      const tbody = el("tbody");
      for (const p of params) {
        tbody.append(el("tr", {}, el("td", {}, el("code", { text: p.name })), el("td", { text: p.in }),
          el("td", { class: "type", text: p.type === "array" ? (p.items && p.items.type) + "[]" : p.type || "" }),
          el("td", { text: p.required ? "required" : "" }), el("td", { text: p.description || "" })));
      }
      sec.append(el("h3", { text: "Parameters" }), el("table", {}, el("thead", {}, el("tr", {},
        el("th", { text: "name" }), el("th", { text: "in" }), el("th", { text: "type" }), el("th", { text: "" }), el("th", { text: "description" }))), tbody));
    }
    const body = (op.parameters || []).find((p) => p.in === "body");
    if (body) {
      sec.append(el("h3", {}, "Request body ", el("span", { class: "type", text: typeName(body.schema) })));
      const l = schemaList(body.schema, 0);
      if (l) sec.append(l);
    }
    for (const [code, r] of Object.entries(op.responses || {})) {
      sec.append(el("h3", {}, "Response " + code + " ", el("span", { class: "type", text: r.schema ? typeName(r.schema) : "" })));
      if (r.description) sec.append(el("p", { class: "desc", text: r.description }));
      if (r.schema && code.startsWith("2")) {
        const l = schemaList(r.schema, 0);
        if (l) sec.append(l);
      }
    }
    sec.append(tryForm(method, path, op));
    return { sec: sec, anchor: anchor };
  }

  fetch("/openapi.json").then((r) => r.json()).then((d) => {
    doc = d;
    document.title = (d.info && d.info.title) || document.title;
    $("api-title").textContent = (d.info && d.info.title) || "API";
    $("api-description").textContent = (d.info && d.info.description) || "";
    // Group operations by tag (the API first), the main routes first.
    const order = ["/v1/search", "/v1/papers/{id}/similar", "/v1/papers/{id}", "/v1/papers", "/v1/embed", "/v1/categories", "/v1/info"];
    const rank = (p) => (order.includes(p) ? order.indexOf(p) : order.length);
    const groups = new Map();
    for (const t of d.tags || []) groups.set(t.name, { description: t.description, ops: [] });
    const paths = Object.keys(d.paths || {}).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    for (const path of paths) {
      for (const method of ["get", "post", "put", "patch", "delete"]) {
        const op = d.paths[path][method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || "Other";
        if (!groups.has(tag)) groups.set(tag, { ops: [] });
        groups.get(tag).ops.push([method, path, op]);
      }
    }
    const toc = el("ul");
    const ops = $("operations");
    for (const [tag, g] of groups) {
      if (!g.ops.length) continue;
      ops.append(el("h2", { class: "tag", text: tag }));
      if (g.description) ops.append(el("p", { class: "desc", text: g.description }));
      for (const [method, path, op] of g.ops) {
        const { sec, anchor } = operation(method, path, op);
        ops.append(sec);
        toc.append(el("li", {}, el("a", { href: "#" + anchor }, el("span", { class: "method " + method, text: method.toUpperCase() }), " ", el("span", { class: "path", text: path }))));
      }
    }
    $("toc").append(toc);
  }).catch((e) => {
    $("api-description").textContent = "Could not load /openapi.json: " + e.message;
  });
})();
