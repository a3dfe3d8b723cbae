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

// Image upload page (templates/evaluation/image_upload.html). A form with data-chunked-upload
// sends its file in chunks of data-chunk-bytes through the resumable upload API (POST
// data-start-url, then PUT <start-url><id>/?offset=N with raw bytes, then POST
// <start-url><id>/complete/; see evaluation/services/uploads.py), with a progress bar. The upload's
// id is kept in localStorage under the team and the file's name, size and date, so that after a
// lost connection or a reload the same file, chosen again, goes on from the server's offset.
// Texts come translated from the form's data-msg-* attributes. Without JavaScript the form posts
// the whole file at once.
function chunkedUpload(form) {
  var input = form.querySelector('input[type="file"]');
  var team = form.querySelector('select[name="team"]');
  var button = form.querySelector('button[type="submit"]');
  var box = form.querySelector("[data-upload-progress]");
  var bar = box.querySelector("progress");
  var figures = form.querySelector("[data-upload-percent]");
  var status = form.querySelector("[data-upload-status]");
  var token = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  var startUrl = form.getAttribute("data-start-url");

  function message(name, values) {
    var text = form.getAttribute("data-msg-" + name) || "";
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("{" + key + "}").join(values[key]);
    });
    return text;
  }
  function say(text, kind) {  // the aria-live region: state changes only, not every chunk
    status.textContent = text;
    status.className = kind ? "message " + kind : "";
  }
  function mib(bytes) {
    return (bytes / 1048576).toFixed(1) + " MiB";
  }
  function show(sent, total) {
    var percent = total ? Math.floor(sent * 100 / total) : 100;
    bar.value = percent;
    figures.textContent = percent + "% · " + message("progress", {sent: mib(sent), total: mib(total)});
  }
  function keyOf(file) {
    return ["enclave-upload", team.value, file.name, file.size, file.lastModified].join(":");
  }
  function failure(answer) {
    var error = new Error((answer.data && answer.data.detail) || message("failed"));
    error.answered = true;
    return error;
  }
  async function api(method, url, body, type) {
    var headers = {"X-CSRFToken": token, "Accept": "application/json"};
    if (type) {
      headers["Content-Type"] = type;
    }
    var response = await fetch(url, {method: method, body: body, headers: headers,
                                     credentials: "same-origin", cache: "no-store"});
    var data = null;
    try {
      data = await response.json();
    } catch (ignored) {
      data = null;
    }
    return {ok: response.ok, status: response.status, data: data || {}};
  }

  async function upload(file) {
    var key = keyOf(file);
    var id = window.localStorage.getItem(key);
    var received = 0;
    var answer;
    if (id) {
      answer = await api("GET", startUrl + id + "/");
      if (answer.ok && answer.data.state === "open") {
        received = answer.data.received;
        say(message("resuming", {sent: mib(received)}));
      } else if (answer.ok || answer.status === 404) {  // completed or swept: start afresh
        window.localStorage.removeItem(key);
        id = null;
      } else {
        throw failure(answer);
      }
    }
    if (!id) {
      answer = await api("POST", startUrl, JSON.stringify({team: team.value, size: file.size}),
                         "application/json");
      if (!answer.ok) {
        throw failure(answer);
      }
      id = answer.data.id;
      window.localStorage.setItem(key, id);
    }
    var chunk = parseInt(form.getAttribute("data-chunk-bytes"), 10) || 8388608;
    show(received, file.size);
    while (received < file.size) {
      answer = await api("PUT", startUrl + id + "/?offset=" + received,
                         file.slice(received, received + chunk), "application/octet-stream");
      if (!answer.ok && answer.status === 409 && answer.data.code === "wrong_offset") {
        answer = await api("GET", startUrl + id + "/");  // the server says where to go on
      }
      if (!answer.ok) {
        throw failure(answer);
      }
      received = answer.data.received;
      show(received, file.size);
    }
    say(message("checking"));
    answer = await api("POST", startUrl + id + "/complete/");
    if (!answer.ok && answer.data.code !== "upload_incomplete") {
      window.localStorage.removeItem(key);  // the server ended this upload (the error says why)
    }
    if (!answer.ok) {
      throw failure(answer);
    }
    window.localStorage.removeItem(key);
    return answer.data;
  }

  async function refreshImages() {
    var rows = document.querySelector("[data-image-rows]");
    var response = await fetch(window.location.href, {credentials: "same-origin", cache: "no-store"});
    if (rows && response.ok) {
      var holder = document.createElement("div");
      holder.innerHTML = await response.text();
      var fresh = holder.querySelector("[data-image-rows]");
      if (fresh) {
        rows.replaceWith(fresh);
      }
    }
  }

  input.addEventListener("change", function () {
    var file = input.files[0];
    if (file && window.localStorage.getItem(keyOf(file))) {
      say(message("resumable"));
    }
  });
  form.addEventListener("submit", function (event) {
    var file = input.files[0];
    if (!file || !window.fetch || !window.localStorage) {
      return;  // the plain form post
    }
    event.preventDefault();
    button.disabled = true;
    box.hidden = false;
    upload(file)
      .then(function (image) {
        say(message("done", {id: String(image.image_id).slice(0, 19)}), "success");
        input.value = "";
        return refreshImages().catch(function () {});  // the message says it is ready anyway
      })
      .catch(function (error) {
        say(error.answered ? error.message : message("network"), "error");
      })
      .finally(function () {
        button.disabled = false;
      });
  });
}
document.querySelectorAll("form[data-chunked-upload]").forEach(chunkedUpload);

// Reading a detection case: clicks on the image add lesions to the lesions box, in the image's
// own pixels: a point ("row column") per click, or a box ("row0 column0 row1 column1") per two
// clicks on opposite corners, as the challenge's lesions are (data-mark-geometry); on a 3-D image
// the frame shown comes before each corner ("frame row column"). The typed list stays the source of truth (and works without
// JavaScript).
document.querySelectorAll("[data-mark-into]").forEach(function (stack) {
  var target = document.getElementById(stack.getAttribute("data-mark-into"));
  var image = stack.querySelector("img");
  var rows = parseInt(stack.getAttribute("data-rows"), 10);
  var columns = parseInt(stack.getAttribute("data-columns"), 10);
  var boxes = stack.getAttribute("data-mark-geometry") === "box";
  if (!target || !image || !(rows > 0) || !(columns > 0)) {
    return;
  }
  var help = document.querySelector("[data-mark-help]");
  if (help) {
    help.hidden = false;
  }
  var corner = null;
  image.style.cursor = "crosshair";
  image.addEventListener("click", function (event) {
    var area = image.getBoundingClientRect();
    var row = Math.min(rows - 1, Math.max(0, Math.floor((event.clientY - area.top) / area.height * rows)));
    var column = Math.min(columns - 1, Math.max(0, Math.floor((event.clientX - area.left) / area.width * columns)));
    var frameInput = document.getElementById(stack.getAttribute("data-frame-input") || "");
    var prefix = frameInput ? (parseInt(frameInput.value, 10) || 0) + " " : "";
    var line = prefix + row + " " + column;
    if (boxes && corner === null) {
      corner = [row, column];
      return;
    }
    if (boxes) {
      line = prefix + Math.min(corner[0], row) + " " + Math.min(corner[1], column) + " " +
        prefix + Math.max(corner[0], row) + " " + Math.max(corner[1], column);
      corner = null;
    }
    var text = target.value.replace(/\s+$/, "");
    target.value = (text ? text + "\n" : "") + line + "\n";
  });
});
