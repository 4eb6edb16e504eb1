// The production page: upload many files with a progress bar each, then follow their
// processing. Without JavaScript the form posts normally and the page is reloaded by hand.
(function () {
  "use strict";
  document.documentElement.classList.add("has-js");

  var form = document.getElementById("upload-form");
  var table = document.getElementById("documents");
  var POLL_MS = 2000;
  var PARALLEL = 2; // uploads at once: more only splits the same bandwidth
  // Hashing reads the whole file into memory in the browser; larger files go without a
  // checksum (the server still computes and reports its own).
  var HASH_LIMIT = 256 * 1024 * 1024;
  var uploading = 0; // while files are being sent, the page must not reload under them
  var FINAL = ["indexed", "partial", "duplicate", "encrypted", "unsupported", "failed"];

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function sha256(file) {
    if (!window.crypto || !window.crypto.subtle || file.size > HASH_LIMIT) {
      return Promise.resolve(null);
    }
    return file.arrayBuffer().then(function (data) {
      return window.crypto.subtle.digest("SHA-256", data);
    }).then(hex, function () { return null; });
  }

  function errorMessage(xhr) {
    try {
      return JSON.parse(xhr.responseText).error.message;
    } catch (e) {
      return xhr.status === 413 ? "the file is too large" : "the upload failed (" + (xhr.status || "network error") + ")";
    }
  }

  function queueItem(list, file) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    var status = document.createElement("span");
    status.className = "status";
    status.textContent = "waiting";
    item.appendChild(name);
    item.appendChild(bar);
    item.appendChild(status);
    list.appendChild(item);
    return { item: item, bar: bar, status: status };
  }

  function uploadOne(file, row) {
    var maxBytes = Number(form.dataset.maxBytes);
    if (maxBytes && file.size > maxBytes) {
      row.item.classList.add("failed");
      row.status.textContent = "not sent: larger than the limit of " + form.dataset.maxLabel;
      return Promise.resolve(false);
    }
    row.status.textContent = "checking";
    return sha256(file).then(function (digest) {
      return new Promise(function (resolve) {
        var body = new FormData();
        body.append("file", file, file.name);
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.dataset.api);
        xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
        if (digest) { xhr.setRequestHeader("X-Content-SHA256", digest); }
        xhr.upload.addEventListener("progress", function (event) {
          if (event.lengthComputable) {
            row.bar.max = event.total;
            row.bar.value = event.loaded;
            row.status.textContent = Math.floor(100 * event.loaded / event.total) + "% sent";
          }
        });
        xhr.addEventListener("load", function () {
          if (xhr.status === 201) {
            var files = JSON.parse(xhr.responseText).files;
            row.bar.value = row.bar.max;
            row.item.classList.add("done");
            row.status.textContent = files.map(function (f) {
              return f.filename + ": " + (f.outcome === "duplicate" ? "already in the archive" : "received, " + f.state);
            }).join("; ");
            resolve(true);
          } else {
            row.item.classList.add("failed");
            row.status.textContent = errorMessage(xhr);
            resolve(false);
          }
        });
        xhr.addEventListener("error", function () {
          row.item.classList.add("failed");
          row.status.textContent = "the connection failed: " + errorMessage(xhr);
          resolve(false);
        });
        row.status.textContent = "sending";
        xhr.send(body);
      });
    });
  }

  function uploadAll(files) {
    var list = document.getElementById("upload-queue");
    var jobs = Array.prototype.map.call(files, function (file) {
      return { file: file, row: queueItem(list, file) };
    });
    var next = 0;
    var ok = true;
    uploading += 1;
    function worker() {
      if (next >= jobs.length) { return Promise.resolve(); }
      var job = jobs[next++];
      return uploadOne(job.file, job.row).then(function (sent) {
        ok = ok && sent;
        return worker();
      });
    }
    var workers = [];
    for (var i = 0; i < Math.min(PARALLEL, jobs.length); i++) { workers.push(worker()); }
    return Promise.all(workers).then(function () {
      uploading -= 1;
      return ok;
    });
  }

  function afterUploads(ok) {
    // New documents need their rows (with their forms): the server renders them.
    if (ok && !uploading) {
      window.location.reload();
    } else {
      var note = document.createElement("li");
      var link = document.createElement("a");
      link.href = window.location.pathname;
      link.textContent = "Reload to see the documents that were received.";
      note.appendChild(link);
      document.getElementById("upload-queue").appendChild(note);
    }
  }

  if (form) {
    var input = document.getElementById("files");
    var zone = document.getElementById("dropzone");
    form.addEventListener("submit", function (event) {
      if (!input.files.length) { return; }
      event.preventDefault();
      var files = Array.prototype.slice.call(input.files);
      input.value = "";
      uploadAll(files).then(afterUploads);
    });
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        uploadAll(event.dataTransfer.files).then(afterUploads);
      }
    });
  }

  // --- Live processing state: poll the page's .json twin while anything is unfinished. ---

  function setText(cell, text) {
    if (cell.textContent !== text) { cell.textContent = text; }
  }

  function updateRow(row, doc) {
    var state = row.querySelector('[data-field="state"] .state');
    state.className = "state state-" + doc.state;
    setText(state, doc.state);
    var bar = row.querySelector('[data-field="pages"] progress');
    bar.max = doc.page_count || 1;
    bar.value = doc.pages_done;
    setText(row.querySelector('[data-field="pages"] span'), doc.pages_done + " / " + (doc.page_count || "?"));
    setText(row.querySelector('[data-field="ocr"]'), String(doc.ocr_pages));
    var problems = row.querySelector('[data-field="problems"]');
    var lines = [];
    if (doc.reason) { lines.push(doc.reason); }
    lines = lines.concat(doc.errors);
    if (doc.taken_down_reason) { lines.push("Taken down: " + doc.taken_down_reason); }
    if (problems.dataset.text !== lines.join("\n")) {
      problems.dataset.text = lines.join("\n");
      problems.textContent = "";
      lines.forEach(function (line) {
        var p = document.createElement("p");
        p.className = "reason";
        p.textContent = line;
        problems.appendChild(p);
      });
    }
    row.dataset.state = doc.state;
  }

  function updateCounts(states) {
    var counts = document.getElementById("state-counts");
    if (!counts) { return; }
    counts.textContent = "";
    Object.keys(states).forEach(function (state) {
      var badge = document.createElement("span");
      badge.className = "state state-" + state;
      badge.textContent = states[state] + " " + state;
      counts.appendChild(badge);
      counts.appendChild(document.createTextNode(" "));
    });
  }

  function poll() {
    fetch(table.dataset.poll, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (production) {
        if (!production) { return; }
        var structural = false;
        production.documents.forEach(function (doc) {
          var row = document.getElementById("document-" + doc.id);
          if (!row) { structural = true; return; }
          if ((row.dataset.canRetry === "true") !== doc.can_retry) { structural = true; }
          updateRow(row, doc);
        });
        setText(document.getElementById("document-count"), "(" + production.document_count + ")");
        updateCounts(production.states);
        if (structural && !uploading) {
          // A new document or a retry button to show: the server renders the rows.
          window.location.reload();
          return;
        }
        var busy = production.documents.some(function (doc) { return FINAL.indexOf(doc.state) < 0; });
        if (busy) { window.setTimeout(poll, POLL_MS); }
      })
      .catch(function () { window.setTimeout(poll, POLL_MS * 5); });
  }

  if (table) {
    var rows = table.querySelectorAll("tbody tr");
    var unfinished = Array.prototype.some.call(rows, function (row) {
      return FINAL.indexOf(row.dataset.state) < 0;
    });
    if (unfinished) { window.setTimeout(poll, POLL_MS); }
  }
})();
