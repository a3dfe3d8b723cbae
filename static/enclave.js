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

// An element with data-refresh-url (the submission page's status panel) is replaced every
// data-refresh-seconds by what that URL answers; once the answer has no data-refresh-url any
// more (the submission is final), the whole page reloads to show its scores and logs. Without
// JavaScript the panel offers a plain "refresh" link instead.
function refreshLater(panel, delay) {
  var seconds = delay || parseFloat(panel.getAttribute("data-refresh-seconds")) || 5;
  window.setTimeout(function () {
    fetch(panel.getAttribute("data-refresh-url"), {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var next = holder.querySelector("#" + panel.id);
        if (!next) {
          return;
        }
        if (!next.hasAttribute("data-refresh-url")) {
          window.location.reload();
          return;
        }
        panel.replaceWith(next);
        refreshLater(next);
      })
      .catch(function () {
        refreshLater(panel, Math.min(seconds * 2, 60));  // back off while the server is away
      });
  }, seconds * 1000);
}
document.querySelectorAll("[data-refresh-url]").forEach(function (panel) {
  refreshLater(panel);
});

// Review case page (templates/review/case.html). A range input with data-submit-on-change
// submits its form when let go. Zoom buttons (hidden without JavaScript) set the viewer's
// zoom-N class. A checkbox with data-overlay-toggle="X" shows or hides, at once, every element
// with data-overlay="X" (an overlay layer, a table cell); without JavaScript the form's button
// reloads the page with the ticked overlays.
document.querySelectorAll("input[data-submit-on-change]").forEach(function (input) {
  input.addEventListener("change", function () {
    if (input.form) {
      input.form.submit();
    }
  });
});
document.querySelectorAll("[data-zoom-controls]").forEach(function (controls) {
  var viewer = document.getElementById("viewer");
  if (!viewer) {
    return;
  }
  controls.hidden = false;
  controls.querySelectorAll("button[data-zoom]").forEach(function (button) {
    button.addEventListener("click", function () {
      ["zoom-1", "zoom-2", "zoom-4"].forEach(function (name) {
        viewer.classList.remove(name);
      });
      viewer.classList.add("zoom-" + button.getAttribute("data-zoom"));
      controls.querySelectorAll("button[data-zoom]").forEach(function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
    });
  });
});
document.querySelectorAll("input[data-overlay-toggle]").forEach(function (box) {
  box.addEventListener("change", function () {
    var code = box.getAttribute("data-overlay-toggle");
    document.querySelectorAll("[data-overlay]").forEach(function (element) {
      if (element.getAttribute("data-overlay") === code) {
        element.classList.toggle("hidden", !box.checked);
      }
    });
  });
});
