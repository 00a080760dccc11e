// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // "Select all" checkbox of the customer list (rows may be replaced by htmx).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-select-all]")) return;
    document.querySelectorAll("input[type=checkbox][name=ids]").forEach(function (row) {
      row.checked = box.checked;
    });
  });

  // "Add another" row of a formset: clone its empty form and bump TOTAL_FORMS.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-add-row]");
    if (!button) return;
    event.preventDefault();
    var prefix = button.getAttribute("data-add-row");
    var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
    var template = document.getElementById(prefix + "-empty");
    var rows = document.getElementById(prefix + "-rows");
    if (!total || !template || !rows) return;
    var index = parseInt(total.value, 10);
    var html = template.innerHTML.replace(/__prefix__/g, String(index));
    rows.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
  });

  // The customer form: a company has no gender, birthday or identity document, and its names
  // are its contact person's. An input still holding a value stays visible, so it can be cleared.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("[data-customer-kind]")) return;
    var company = select.value === "company";
    document.querySelectorAll("[data-person-only]").forEach(function (section) {
      var filled = Array.prototype.some.call(
        section.querySelectorAll("input, select, textarea"),
        function (input) { return input.value !== ""; }
      );
      section.hidden = company && !filled;
    });
    document.querySelectorAll("[data-company-only]").forEach(function (hint) {
      hint.hidden = !company;
    });
  });

  // "Back" on the error pages: shown only where script runs and there is a page to go back to.
  document.querySelectorAll("[data-history-back]").forEach(function (button) {
    if (window.history.length < 2) return;
    button.hidden = false;
    button.addEventListener("click", function () { window.history.back(); });
  });
})();
