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
    return `${[].concat(schema.type || []).join(" or ")}${schema.format ? ` (${schema.format})` : ""}${range}`;
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

  // A response schema as people read it: {"field": type, ...}, arrays as [item], one field a line.
  function shape(schema, depth = 0) {
    const pad = "  ".repeat(depth + 1), end = "  ".repeat(depth);
    if (!schema || typeof schema !== "object") return "any";
    if (schema.$ref) return schema.$ref.split("/").pop();
    if (schema.contentSchema) return `event data: ${shape(schema.contentSchema, depth)}`;
    const kinds = [].concat(schema.type || []);
    if (schema.properties && kinds.includes("object")) {
      const lines = Object.entries(schema.properties).map(([k, v]) => `${pad}"${k}": ${shape(v, depth + 1)}`);
      return `{\n${lines.join(",\n")}\n${end}}${kinds.includes("null") ? " or null" : ""}`;
    }
    if (schema.additionalProperties && kinds.includes("object")) return `{"<name>": ${shape(schema.additionalProperties, depth)}}`;
    if (kinds.includes("array")) {
      const item = schema.items && schema.items.anyOf ? `[${schema.items.anyOf.map((s) => shape(s, depth)).join(" | ")}, ...]` : `[${shape(schema.items, depth)}, ...]`;
      return item;
    }
    return describeSchema(schema) || "any";
  }

  function responses(op) {
    const ok = (op.responses["200"] || {}).content || {};
    const [media, body] = Object.entries(ok)[0] || [];
    if (!body || !body.schema || (body.schema.type === "string" && !body.schema.properties)) return [];
    return [el("p", { class: "media" }, `Response schema (${media}):`), el("pre", { class: "schema" }, shape(body.schema))];
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
            el("div", { class: "table-box" }, parameters(op.parameters)),
            el("p", { class: "media" }, "Answers: ", media || "—"),
            responses(op),
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
