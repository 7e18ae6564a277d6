// The endpoint form: show the settings of the chosen signature scheme only, and propose the scheme
// "none" when a preset format whose URL or key is the credential is chosen (the formats are the
// form's data-unsigned-formats, rendered from signing.UNSIGNED_FORMATS). Without JavaScript every
// field shows, and the server ignores the settings the chosen scheme does not use.
(function () {
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
})();
