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

  document.addEventListener("DOMContentLoaded", function () {
    ruleFormEvents();
    selectAllAlerts();
    endpointFormatFields();
  });
})();
