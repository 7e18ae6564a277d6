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
