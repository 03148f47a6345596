// "Kopieer link" on the submitter's status page: copies the link from its read-only field. Without this script
// (or a clipboard) the field still selects its whole text on focus, ready for Ctrl+C.
(function () {
  "use strict";
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var feedback = document.getElementById(button.getAttribute("data-feedback"));
    if (!field) { return; }
    field.addEventListener("focus", function () { field.select(); });
    field.addEventListener("click", function () { field.select(); });
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { if (feedback) { feedback.textContent = "De link is gekopieerd."; } };
      var fallback = function () {
        field.focus();
        field.select();
        var copied = false;
        try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
        if (feedback) {
          feedback.textContent = copied ? "De link is gekopieerd." : "Kopiëren lukte niet; de link is geselecteerd, kopieer hem met Ctrl+C.";
        }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
}());
