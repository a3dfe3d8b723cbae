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

// Reading a segmentation case (2-D): a brush paints label values on a canvas over the image, at
// the image's own pixel size; on save the painting becomes an 8-bit grayscale PNG holding the
// label values (0 = background) and is sent as the form's mask file, exactly like an uploaded
// one. Without JavaScript (or without CompressionStream) the file upload remains.
var MASK_COLOURS = [[0, 0, 0], [255, 64, 64], [64, 160, 255], [255, 200, 0], [64, 220, 120],
  [200, 90, 255], [255, 128, 0], [0, 220, 220]];

function crc32(bytes) {
  var crc = -1;
  for (var i = 0; i < bytes.length; i++) {
    crc ^= bytes[i];
    for (var k = 0; k < 8; k++) {
      crc = (crc >>> 1) ^ (0xEDB88320 & -(crc & 1));
    }
  }
  return (crc ^ -1) >>> 0;
}

function pngChunk(type, data) {
  var chunk = new Uint8Array(12 + data.length);
  var view = new DataView(chunk.buffer);
  view.setUint32(0, data.length);
  for (var i = 0; i < 4; i++) {
    chunk[4 + i] = type.charCodeAt(i);
  }
  chunk.set(data, 8);
  view.setUint32(8 + data.length, crc32(chunk.subarray(4, 8 + data.length)));
  return chunk;
}

function grayscalePng(labels, rows, columns) {
  var raw = new Uint8Array(rows * (columns + 1));  // filter byte 0, then the row
  for (var r = 0; r < rows; r++) {
    raw.set(labels.subarray(r * columns, (r + 1) * columns), r * (columns + 1) + 1);
  }
  var header = new Uint8Array(13);
  var view = new DataView(header.buffer);
  view.setUint32(0, columns);
  view.setUint32(4, rows);
  header.set([8, 0, 0, 0, 0], 8);  // 8-bit grayscale, deflate, no filter method, no interlace
  var zipped = new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Response(zipped).arrayBuffer().then(function (deflated) {
    return new Blob([new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk("IHDR", header),
      pngChunk("IDAT", new Uint8Array(deflated)), pngChunk("IEND", new Uint8Array(0))],
    {type: "image/png"});
  });
}

document.querySelectorAll("[data-mask-draw]").forEach(function (panel) {
  var rows = parseInt(panel.getAttribute("data-rows"), 10);
  var columns = parseInt(panel.getAttribute("data-columns"), 10);
  var input = document.getElementById(panel.getAttribute("data-input"));
  var stack = document.querySelector(".viewer-stack");
  if (!input || !stack || !(rows > 0) || !(columns > 0) || typeof CompressionStream === "undefined") {
    return;
  }
  panel.hidden = false;
  var labels = new Uint8Array(rows * columns);
  var canvas = document.createElement("canvas");
  canvas.className = "mask-canvas";
  canvas.width = columns;
  canvas.height = rows;
  canvas.setAttribute("aria-label", panel.querySelector("legend").textContent);
  stack.appendChild(canvas);
  var context = canvas.getContext("2d");
  var painting = false;
  var drawn = false;
  var required = input.required;  // a drawing stands in for the required file
  var count = panel.querySelector("[data-mask-count]");

  function paint(event) {
    var area = canvas.getBoundingClientRect();
    var row = (event.clientY - area.top) / area.height * rows;
    var column = (event.clientX - area.left) / area.width * columns;
    var radius = Math.max(1, parseInt(panel.querySelector("[data-mask-brush]").value, 10) || 1) / 2;
    var erase = panel.querySelector("[data-mask-erase]").checked;
    var label = erase ? 0 : parseInt(panel.querySelector("[data-mask-label]").value, 10) || 1;
    var colour = MASK_COLOURS[label % MASK_COLOURS.length];
    for (var r = Math.max(0, Math.floor(row - radius)); r <= Math.min(rows - 1, Math.floor(row + radius)); r++) {
      for (var c = Math.max(0, Math.floor(column - radius)); c <= Math.min(columns - 1, Math.floor(column + radius)); c++) {
        if ((r + 0.5 - row) * (r + 0.5 - row) + (c + 0.5 - column) * (c + 0.5 - column) <= radius * radius) {
          labels[r * columns + c] = label;
          if (label) {
            context.fillStyle = "rgba(" + colour.join(",") + ",0.5)";
            context.clearRect(c, r, 1, 1);
            context.fillRect(c, r, 1, 1);
          } else {
            context.clearRect(c, r, 1, 1);
          }
        }
      }
    }
    drawn = true;
    input.required = false;
    var marked = labels.reduce(function (total, value) { return total + (value ? 1 : 0); }, 0);
    count.textContent = marked + " px";
  }

  canvas.addEventListener("pointerdown", function (event) {
    painting = true;
    canvas.setPointerCapture(event.pointerId);
    paint(event);
  });
  canvas.addEventListener("pointermove", function (event) {
    if (painting) {
      paint(event);
    }
  });
  canvas.addEventListener("pointerup", function () { painting = false; });
  panel.querySelector("[data-mask-clear]").addEventListener("click", function () {
    labels.fill(0);
    context.clearRect(0, 0, columns, rows);
    drawn = false;
    input.required = required;
    count.textContent = "0 px";
  });
  var form = input.form;
  form.addEventListener("submit", function (event) {
    if (!drawn || (input.files && input.files.length)) {
      return;  // an uploaded file wins; nothing drawn: the form as it is
    }
    event.preventDefault();
    grayscalePng(labels, rows, columns).then(function (png) {
      var transfer = new DataTransfer();
      transfer.items.add(new File([png], "drawn-mask.png", {type: "image/png"}));
      input.files = transfer.files;
      drawn = false;
      form.requestSubmit ? form.requestSubmit(event.submitter) : form.submit();
    });
  });
});

// A folder chosen for upload (input[webkitdirectory][data-relative-paths]): the browser sends
// each file under its bare name, so the relative paths (which make a sub-folder one case) go
// along in the hidden field named by data-relative-paths, in the files' order.
document.querySelectorAll("input[type=file][data-relative-paths]").forEach(function (input) {
  var hidden = document.getElementById(input.getAttribute("data-relative-paths"));
  if (!hidden) {
    return;
  }
  input.addEventListener("change", function () {
    hidden.value = JSON.stringify(Array.prototype.map.call(input.files, function (file) {
      return file.webkitRelativePath || file.name;
    }));
  });
});
