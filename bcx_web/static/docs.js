// Renders /api/v1.0/openapi.json for people: one section per path with its parameters and an example curl line.
// Self-written (about 60 lines) rather than a vendored Swagger UI: the document is small and the page stays offline.
"use strict";

(function () {
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    children.flat().forEach((c) => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
    return node;
  };

  function example(path, op) {
    const filled = path.replace(/\{(\w+)\}/g, (_, name) => (name === "product" ? "coinbase:BTC-USD" : name));
    const stream = Object.keys((op.responses["200"] || {}).content || {}).includes("text/event-stream");
    return `curl ${stream ? "-N " : ""}'${location.origin}${filled}'`;
  }

  // enum values, a type with its bounds (1..10000), or the alternatives of an anyOf (unix ms or a date-time)
  function describeSchema(schema) {
    if (schema.enum) return schema.enum.join(" | ");
    if (schema.anyOf) return schema.anyOf.map(describeSchema).join(" or ");
    const range = schema.minimum !== undefined && schema.maximum !== undefined ? ` ${schema.minimum}..${schema.maximum}` : "";
    return `${schema.type || ""}${schema.format ? ` (${schema.format})` : ""}${range}`;
  }

  function parameters(list) {
    if (!list || !list.length) return el("p", {}, "No parameters.");
    const rows = list.map((p) => {
      const schema = p.schema || {};
      const type = describeSchema(schema);
      return el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in), el("td", {}, type), el("td", {}, p.description || ""));
    });
    return el("table", {}, el("thead", {}, el("tr", {}, ["name", "in", "type", "description"].map((h) => el("th", {}, h)))), el("tbody", {}, rows));
  }

  function render(doc) {
    const root = document.getElementById("docs");
    root.replaceChildren(el("p", {}, doc.info.description || ""));
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const media = Object.keys((op.responses["200"] || {}).content || {}).join(", ");
        root.append(
          el("section", { class: "endpoint", id: path },
            el("h2", {}, el("span", { class: "method" }, method.toUpperCase()), " ", el("code", {}, path)),
            el("p", {}, op.summary || ""),
            parameters(op.parameters),
            el("p", { class: "media" }, "Answers: ", media || "—"),
            el("pre", {}, example(path, op)))
        );
      }
    }
  }

  fetch("api/v1.0/openapi.json")
    .then((r) => r.json())
    .then(render)
    .catch((err) => {
      document.getElementById("docs").textContent = `Cannot load the OpenAPI document: ${err}`;
    });
})();
