// The visual segment builder: rows of field / operator / value joined by and/or.
// It writes the query text box and reads it back through the server's parser (parse.json),
// so the text stays the single source of truth. No dependencies.
(function () {
  "use strict";

  var root = document.getElementById("segment-builder");
  var textarea = document.querySelector("#segment-form textarea[name=query]");
  if (!root || !textarea) return;

  var fields = [];
  var byName = {};
  var QUOTED = { text: true, tag: true, interest: true, category: true, region: true, manager: true };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function quote(value) {
    return '"' + value.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  function renderValue(field, value) {
    value = value.trim();
    var type = field ? field.type : "text";
    if (!QUOTED[type] || (type === "manager" && value === "none")) return value;
    return quote(value);
  }

  function rowText(row) {
    var name = row.querySelector("[data-field]").value;
    var op = row.querySelector("[data-op]").value;
    var value = row.querySelector("[data-value]").value;
    var field = byName[name];
    if (!name || !op) return "";
    if (op === "within") return "birthday within " + (value.trim() || "0") + " days";
    if (op === "in" || op === "not in") {
      var items = value.split(",").filter(function (v) { return v.trim(); });
      return name + " " + op + " (" + items.map(function (v) { return renderValue(field, v); }).join(", ") + ")";
    }
    return name + " " + op + " " + renderValue(field, value);
  }

  function write() {
    var parts = [];
    root.querySelectorAll("[data-row]").forEach(function (row, index) {
      var text = rowText(row);
      if (!text) return;
      if (parts.length) parts.push(row.querySelector("[data-join]").value);
      parts.push(text);
      void index;
    });
    textarea.value = parts.join(" ");
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function fillOps(select, field, chosen) {
    select.innerHTML = "";
    var words = { in: root.dataset.labelIn, "not in": root.dataset.labelNotIn, within: root.dataset.labelWithin };
    (field ? field.ops : []).forEach(function (op) {
      select.appendChild(el("option", { value: op, text: words[op] || op }));
    });
    if (chosen) select.value = chosen;
  }

  function addRow(data) {
    data = data || {};
    var join = el("select", { "data-join": "", class: "form-select form-select-sm w-auto", "aria-label": root.dataset.labelAnd });
    join.appendChild(el("option", { value: "and", text: root.dataset.labelAnd }));
    join.appendChild(el("option", { value: "or", text: root.dataset.labelOr }));
    join.value = data.join || "and";
    var field = el("select", { "data-field": "", class: "form-select form-select-sm w-auto" });
    fields.forEach(function (f) { field.appendChild(el("option", { value: f.name, text: f.label + " (" + f.name + ")" })); });
    if (data.field) field.value = data.field;
    var op = el("select", { "data-op": "", class: "form-select form-select-sm w-auto" });
    fillOps(op, byName[field.value], data.op);
    var listId = "segment-values-" + Math.random().toString(36).slice(2);
    // Free text (with suggestions) for lists and open fields; a select of labelled choices
    // for "=" and "!=" on a field with choices, so people pick "Чемпионы", not "champions".
    var value = el("input", { "data-value": "", class: "form-control form-control-sm flex-grow-1", style: "min-width: 8rem", list: listId, value: data.value || "" });
    var choice = el("select", { "data-choice": "", class: "form-select form-select-sm w-auto" });
    var list = el("datalist", { id: listId });
    function labelOf(f, code) { return (f && f.labels && f.labels[code]) || code; }
    function fillChoices() {
      list.innerHTML = "";
      choice.innerHTML = "";
      var f = byName[field.value];
      (f ? f.choices : []).forEach(function (c) {
        list.appendChild(el("option", { value: c, label: labelOf(f, c) }));
        choice.appendChild(el("option", { value: c, text: labelOf(f, c) }));
      });
      var single = op.value !== "in" && op.value !== "not in";
      var useSelect = f && f.choices.length && single;
      if (useSelect && value.value) choice.value = value.value;
      if (useSelect && choice.selectedIndex < 0) choice.selectedIndex = 0;
      choice.hidden = !useSelect;
      value.hidden = !!useSelect;
      if (useSelect) value.value = choice.value;
    }
    fillChoices();
    var remove = el("button", { type: "button", class: "btn btn-sm btn-outline-danger", text: "×", "aria-label": root.dataset.labelRemove });
    var row = el("div", { "data-row": "", class: "d-flex gap-1 mb-1 align-items-center" }, [join, field, op, value, choice, list, remove]);
    field.addEventListener("change", function () { value.value = ""; fillOps(op, byName[field.value]); fillChoices(); write(); });
    op.addEventListener("change", function () { fillChoices(); write(); });
    join.addEventListener("change", write);
    choice.addEventListener("change", function () { value.value = choice.value; write(); });
    value.addEventListener("input", write);
    remove.addEventListener("click", function () { row.remove(); syncJoins(); write(); });
    root.querySelector("[data-rows]").appendChild(row);
    syncJoins();
  }

  function syncJoins() {
    root.querySelectorAll("[data-row]").forEach(function (row, index) {
      row.querySelector("[data-join]").style.visibility = index ? "visible" : "hidden";
    });
  }

  function notice(text) {
    root.querySelector("[data-notice]").textContent = text || "";
  }

  function read() {
    var url = root.dataset.parseUrl + "?q=" + encodeURIComponent(textarea.value);
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.error) { notice(body.error); return; }
        if (!body.rows) { notice(root.dataset.labelText); return; }
        notice("");
        root.querySelector("[data-rows]").innerHTML = "";
        body.rows.forEach(addRow);
        if (!body.rows.length) addRow();
      });
  }

  fetch(root.dataset.fieldsUrl, { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (body) {
      fields = body.fields;
      fields.forEach(function (f) { byName[f.name] = f; });
      root.innerHTML = "";
      root.appendChild(el("div", { "data-rows": "" }));
      root.appendChild(el("div", { "data-notice": "", class: "small text-body-secondary mb-1" }));
      var add = el("button", { type: "button", class: "btn btn-sm btn-outline-primary", text: root.dataset.labelAdd });
      add.addEventListener("click", function () { addRow(); write(); });
      root.appendChild(add);
      if (textarea.value.trim()) read(); else addRow();
    });

  document.querySelector("[data-builder-read]").addEventListener("click", read);
})();
