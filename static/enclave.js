// Enclave's only script, loaded with defer (the Content-Security-Policy allows no inline script).
// A <select data-submit-on-change> submits its form when changed; without JavaScript the form
// shows a submit button instead (<noscript>).
"use strict";
document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
  select.addEventListener("change", function () {
    if (select.form) {
      select.form.submit();
    }
  });
});
