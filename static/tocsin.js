// Tocsin's only script, loaded by every page (the Content-Security-Policy allows no inline
// script). Each part acts only where its elements exist; every page works without it.
(function () {
  "use strict";

  // Rule form: show only the parameter the chosen event needs. Without JavaScript every field
  // shows, and the server ignores the ones the event does not use.
  function ruleFormEvents() {
    var event = document.getElementById("event");
    var blocks = document.querySelectorAll("[data-for-event]");
    if (!event || !blocks.length) { return; }
    var hint = document.querySelector(".no-script-hint");
    if (hint) { hint.hidden = true; }
    function sync() {
      blocks.forEach(function (block) {
        block.hidden = block.getAttribute("data-for-event") !== event.value;
      });
    }
    event.addEventListener("change", sync);
    sync();
  }

  // Alerts page: "Select all" on this page; without JavaScript each alert is checked one by one.
  function selectAllAlerts() {
    var all = document.getElementById("select-all");
    if (!all) { return; }
    all.hidden = false;
    all.addEventListener("change", function () {
      document.querySelectorAll('input[name="alert_ids"]').forEach(function (box) { box.checked = all.checked; });
    });
  }

  // Endpoint form: show a receiver's credential field only for its format. Without JavaScript
  // every field shows, and the server ignores the ones the format does not use.
  function endpointFormatFields() {
    var format = document.getElementById("format");
    var blocks = document.querySelectorAll("[data-for-format]");
    if (!format || !blocks.length) { return; }
    function sync() {
      blocks.forEach(function (block) {
        block.hidden = block.getAttribute("data-for-format") !== format.value;
      });
    }
    format.addEventListener("change", sync);
    sync();
  }

  // Endpoint form: show the settings of the chosen signature scheme only, and propose the scheme
  // "none" when a preset format whose URL or key is the credential is chosen (the formats are the
  // form's data-unsigned-formats, rendered from signing.UNSIGNED_FORMATS). Without JavaScript every
  // field shows, and the server ignores the settings the chosen scheme does not use.
  function endpointSignatureFields() {
    var form = document.querySelector("form.endpoint-form");
    if (!form) { return; }
    var scheme = form.querySelector("select[name=signature_scheme]");
    var format = form.querySelector("select[name=format]");
    var proposal = form.querySelector(".scheme-proposal");
    var unsigned = (form.getAttribute("data-unsigned-formats") || "").split(" ");
    if (!scheme || !format) { return; }
    function sync() {
      form.querySelectorAll("[data-for-scheme]").forEach(function (block) {
        block.hidden = block.getAttribute("data-for-scheme").split(" ").indexOf(scheme.value) < 0;
      });
    }
    format.addEventListener("change", function () {
      if (unsigned.indexOf(format.value) < 0 || scheme.value === "none") { return; }
      scheme.value = "none";
      if (proposal) {
        proposal.textContent = "Signature scheme set to “None”: " + format.options[format.selectedIndex].text +
          " checks no signature (its URL or key is the credential). Choose another scheme if your receiver verifies one.";
        proposal.hidden = false;
      }
      sync();
    });
    scheme.addEventListener("change", function () {
      if (proposal) { proposal.hidden = true; }
      sync();
    });
    sync();
  }

  document.addEventListener("DOMContentLoaded", function () {
    ruleFormEvents();
    selectAllAlerts();
    endpointFormatFields();
    endpointSignatureFields();
  });
})();

// == firstrun ==
// Copy buttons: <button type="button" class="copy" data-copy-target="#id" hidden>Copy</button>
// copies the text of #id (an input's value), with the Clipboard API, else by selecting the text and
// asking the browser to copy it, else leaving it selected for Ctrl+C. The outcome is announced in
// one aria-live region. The buttons stay hidden without JavaScript, where they could do nothing.
(function () {
  "use strict";

  function textOf(target) {
    return ("value" in target && typeof target.value === "string") ? target.value : target.textContent;
  }

  function selectText(target) {
    if (typeof target.select === "function") { target.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyBySelecting(target) {
    selectText(target);
    try { return document.execCommand("copy"); } catch (error) { return false; }
  }

  function copyButtons() {
    var buttons = document.querySelectorAll("button.copy[data-copy-target]");
    if (!buttons.length) { return; }
    var status = document.createElement("div");
    status.className = "visually-hidden copy-status";
    status.setAttribute("aria-live", "polite");
    status.setAttribute("role", "status");
    document.body.appendChild(status);

    function announce(button, message) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = message; }, 50);
      button.setAttribute("data-copied", message);
      var label = button.querySelector(".copy-label");
      if (label) {
        label.textContent = message === "Copied" ? "Copied" : "Copy";
        window.clearTimeout(button.copyTimer);
        button.copyTimer = window.setTimeout(function () { label.textContent = "Copy"; }, 2000);
      }
    }

    buttons.forEach(function (button) {
      var target = document.querySelector(button.getAttribute("data-copy-target"));
      if (!target) { return; }
      // Wrap the visible word so it can read "Copied" while the hidden part of the name stays.
      var first = button.firstChild;
      if (first && first.nodeType === Node.TEXT_NODE) {
        var label = document.createElement("span");
        label.className = "copy-label";
        label.textContent = first.textContent;
        button.replaceChild(label, first);
      }
      button.hidden = false;
      button.addEventListener("click", function () {
        var text = textOf(target);
        function fallback() {
          announce(button, copyBySelecting(target) ? "Copied" : "Selected: press Ctrl+C (⌘C) to copy");
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { announce(button, "Copied"); }, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", copyButtons);
})();

// == time ==
// Times are rendered by the server in the reader's zone: their account setting, else the zone
// this script reports in the `tz` cookie, else UTC. On the very first page (no cookie yet) the
// server marks its UTC renderings with data-zone-default; they are rewritten here in the
// browser's zone, and every later page comes from the server in that zone.
(function () {
  "use strict";
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (error) { return; }
  if (!zone) { return; }
  var current = document.cookie.split("; ").filter(function (pair) { return pair.indexOf("tz=") === 0; })[0];
  if (current !== "tz=" + zone) {
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
  }

  function parts(date, options) {
    var found = {};
    new Intl.DateTimeFormat("en-US", Object.assign({ timeZone: zone, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }, options || {}))
      .formatToParts(date).forEach(function (part) { found[part.type] = part.value; });
    return found;
  }
  function exact(date) {
    var p = parts(date);
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
  }
  function zoneName(date, style) {
    try { return parts(date, { timeZoneName: style }).timeZoneName || ""; } catch (error) { return ""; }
  }
  function offset(date) {
    var name = zoneName(date, "longOffset").replace("GMT", "");
    return "UTC" + (name || "+00:00");
  }

  function rewrite() {
    document.querySelectorAll("time[data-zone-default]").forEach(function (element) {
      var date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime())) { return; }
      if (element.getAttribute("data-kind") === "datetime") {
        element.textContent = exact(date) + " " + zoneName(date, "short");
      } else {
        element.title = exact(date) + " " + zone + " (" + offset(date) + ")";
      }
      element.removeAttribute("data-zone-default");
    });
    document.querySelectorAll("[data-zone-name]").forEach(function (element) {
      element.textContent = zone;
      element.removeAttribute("data-zone-name");
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", rewrite);
  } else {
    rewrite();
  }
})();
// == layout ==
// The header's Menu button (under 760 px the navigation folds behind it) and the theme toggle
// (dark or light, remembered in localStorage; static/theme.js applies it before the page draws).
(function () {
  "use strict";

  function menuButton() {
    var button = document.querySelector(".menu-button");
    var header = document.querySelector(".topbar");
    if (!button || !header) { return; }
    button.hidden = false;
    header.classList.add("menu-ready");
    function setOpen(open) {
      header.classList.toggle("menu-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function () {
      setOpen(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        setOpen(false);
        button.focus();
      }
    });
  }

  function prefersDark() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }

  function effectiveTheme() {
    var chosen = document.documentElement.getAttribute("data-theme");
    return chosen || (prefersDark() ? "dark" : "light");
  }

  function themeToggle() {
    var button = document.querySelector("[data-theme-toggle]");
    if (!button) { return; }
    function show() {
      var dark = effectiveTheme() === "dark";
      button.setAttribute("aria-pressed", dark ? "true" : "false");
      button.textContent = "Dark mode";
      button.title = dark ? "Dark mode is on: switch to light" : "Dark mode is off: switch to dark";
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var next = effectiveTheme() === "dark" ? "light" : "dark";
      document.documentElement.setAttribute("data-theme", next);
      try { window.localStorage.setItem("tocsin-theme", next); } catch (error) { /* kept for this page only */ }
      show();
    });
    show();
  }

  menuButton();
  themeToggle();
})();

// == tables ==
// Label each cell with its column's heading, so that on a phone the stylesheet can show each
// row as a card (`table.stacked`); without JavaScript a wide table scrolls inside its own box.
(function () {
  "use strict";
  document.querySelectorAll("table").forEach(function (table) {
    var headings = table.querySelectorAll("thead tr:first-child th");
    if (!headings.length || table.classList.contains("no-stack")) { return; }
    var labels = Array.prototype.map.call(headings, function (th) { return th.textContent.trim(); });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var column = 0;
      Array.prototype.forEach.call(row.children, function (cell) {
        if (!cell.hasAttribute("data-label")) { cell.setAttribute("data-label", labels[column] || ""); }
        column += cell.colSpan || 1;
      });
    });
    table.classList.add("stacked");
  });
})();

// == forms ==
// Endpoint form: a format-specific box (the template, a credential) that holds an error stays in
// view, whatever the format: the person must see what to fix. endpointFormatFields above does the
// toggling when the format changes; this runs after it on load.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.endpoint-form [data-for-format]").forEach(function (block) {
      if (block.querySelector(".has-error")) { block.hidden = false; }
    });
  });
})();

// == system ==
// Rule form: a system event (about alerting itself, not a job) takes no job filter, so the
// field hides while one is chosen. Without JavaScript it shows, and the server ignores it.
(function () {
  "use strict";
  var event = document.getElementById("event");
  var blocks = document.querySelectorAll("[data-not-for-events]");
  if (!event || !blocks.length) { return; }
  function sync() {
    blocks.forEach(function (block) {
      block.hidden = block.getAttribute("data-not-for-events").split(" ").indexOf(event.value) >= 0;
    });
  }
  event.addEventListener("change", sync);
  sync();
})();
