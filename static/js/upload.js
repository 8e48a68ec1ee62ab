// The upload page, enhanced: several files at once, drag and drop onto the page, a byte progress bar
// and a cancel button per file, each file's own error, then a link to its result with live status.
// Without this script the plain form posts one file, as before. No libraries.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var input = form.querySelector("input[type=file]");
  var list = document.getElementById("upload-list");
  var section = document.getElementById("uploads");
  var overlay = document.getElementById("drop-overlay");
  if (!input || !list) return;

  var maxBytes = parseInt(form.dataset.maxBytes, 10) || 0;
  var maxSize = form.dataset.maxSize || "";
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
  var MAX_PARALLEL = 2;
  var waiting = [];
  var active = 0;

  form.classList.add("enhanced");
  input.multiple = true;
  var hint = form.querySelector(".drop-hint");
  if (hint) hint.hidden = false;
  var submit = form.querySelector("button[type=submit]");
  if (submit) submit.hidden = true;  // choosing files starts their uploads
  var label = form.querySelector("label[for=" + input.id + "]");
  if (label) label.textContent = "Videos, images or audio:";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function bytes(n) {
    var units = [["GB", 1073741824], ["MB", 1048576], ["KB", 1024]];
    for (var i = 0; i < units.length; i++) {
      if (n >= units[i][1]) {
        var v = n / units[i][1];
        return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + " " + units[i][0];
      }
    }
    return n + " bytes";
  }

  // One row per file: name, size, a progress bar, a status line, a cancel button, and later a link.
  function addItem(file) {
    section.hidden = false;
    var li = el("li", "upload-item");
    li.dataset.state = "waiting";
    var head = el("div", "upload-head");
    head.appendChild(el("strong", "upload-name", file.name));
    head.appendChild(el("span", "upload-size", bytes(file.size)));
    li.appendChild(head);
    var bar = el("progress", "upload-progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    li.appendChild(bar);
    var line = el("div", "upload-line");
    var status = el("span", "upload-status", "Waiting to upload");
    status.setAttribute("role", "status");
    line.appendChild(status);
    var cancel = el("button", "upload-cancel secondary", "Cancel");
    cancel.type = "button";
    cancel.setAttribute("aria-label", "Cancel the upload of " + file.name);
    line.appendChild(cancel);
    li.appendChild(line);
    list.appendChild(li);
    return { file: file, li: li, bar: bar, status: status, cancel: cancel, line: line, xhr: null };
  }

  function setState(item, state, text) {
    item.li.dataset.state = state;
    if (text !== undefined) item.status.textContent = text;
    if (state !== "waiting" && state !== "uploading") {  // once every byte is sent, the server decides
      item.cancel.remove();
    }
  }

  function fail(item, message) {
    setState(item, "error", "Not uploaded");
    item.bar.remove();
    var error = el("p", "upload-error", message);
    error.setAttribute("role", "alert");
    item.li.appendChild(error);
  }

  function enqueue(file) {
    var item = addItem(file);
    // What the browser already knows is refused now, before any byte travels.
    if (file.size === 0) { fail(item, "The file is empty."); return; }
    if (maxBytes && file.size > maxBytes) {
      fail(item, "The file is larger than " + maxSize + " (it is " + bytes(file.size) + ").");
      return;
    }
    item.cancel.addEventListener("click", function () {
      if (item.xhr) { item.xhr.abort(); return; }  // the abort handler finishes the row
      var at = waiting.indexOf(item);
      if (at >= 0) waiting.splice(at, 1);
      cancelled(item);
    });
    waiting.push(item);
    next();
  }

  function cancelled(item) {
    setState(item, "cancelled", "Cancelled: nothing was kept.");
    item.bar.remove();
  }

  function next() {
    while (active < MAX_PARALLEL && waiting.length) send(waiting.shift());
  }

  function finished() {
    active -= 1;
    next();
  }

  function send(item) {
    active += 1;
    var data = new FormData();
    data.append("file", item.file, item.file.name);
    if (csrf) data.append("csrfmiddlewaretoken", csrf.value);
    var xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("POST", form.action || window.location.href);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    if (csrf) xhr.setRequestHeader("X-CSRFToken", csrf.value);
    setState(item, "uploading", "Uploading: 0 of " + bytes(item.file.size));
    xhr.upload.addEventListener("progress", function (e) {
      var total = e.lengthComputable ? e.total : item.file.size;
      var pct = total ? Math.min(100, Math.floor((e.loaded / total) * 100)) : 0;
      item.bar.value = pct;
      item.li.dataset.loaded = e.loaded;
      item.status.textContent = "Uploading: " + bytes(Math.min(e.loaded, item.file.size)) + " of " +
        bytes(item.file.size) + " (" + pct + "%)";
    });
    xhr.upload.addEventListener("load", function () {
      item.bar.value = 100;
      setState(item, "checking", "Uploaded; checking the file…");
    });
    xhr.addEventListener("abort", function () {
      item.xhr = null;
      cancelled(item);
      finished();
    });
    xhr.addEventListener("error", function () {
      item.xhr = null;
      fail(item, "The connection failed before the file arrived. Please try again.");
      finished();
    });
    xhr.addEventListener("load", function () {
      item.xhr = null;
      finished();
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (body && body.ok) { uploaded(item, body); return; }
      if (body && body.error) { fail(item, body.error); return; }
      if (xhr.responseURL && xhr.responseURL.indexOf("/accounts/login") >= 0) {
        fail(item, "You are no longer logged in. Log in again, then upload this file again.");
      } else if (xhr.status === 413) {
        fail(item, "The server refused the file because it is too large.");
      } else if (xhr.status === 403) {
        fail(item, "The server refused the upload (HTTP 403). Reload the page and try again.");
      } else {
        fail(item, "The upload failed (HTTP " + xhr.status + "). Please try again later.");
      }
    });
    xhr.send(data);
  }

  // Accepted: a link to the result page, and the job's live status until it ends.
  function uploaded(item, body) {
    item.li.dataset.resultUrl = body.result_url;
    setState(item, "queued", body.created ? "Uploaded." : "You uploaded this file before; here is its analysis.");
    var link = el("a", "upload-link", "View result");
    link.href = body.result_url;
    item.line.appendChild(link);
    item.bar.value = 0;
    item.bar.setAttribute("aria-label", "Analysis of " + item.file.name);
    var job = el("span", "upload-job");
    item.line.insertBefore(job, link);
    showStatus(item, job, body.status);
    if (!body.status.final) poll(item, job, body.status_url);
  }

  // A full stop unless the text already ends a sentence ("nothing to judge." gets no second one).
  function sentence(text) { return /[.!?]$/.test(text) ? text : text + "."; }

  function showStatus(item, job, s) {
    if (s.final) {
      item.bar.remove();
      // The words come from the server (detection.verdicts): the same on every page.
      if (s.verdict) {
        item.li.dataset.state = s.status;
        job.textContent = sentence("Verdict: " + s.verdict_words) + (s.reason_words ? " " + s.reason_words : "");
        job.classList.add("verdict-" + s.verdict);
      } else if (s.status === "failed") {
        item.li.dataset.state = "failed";
        job.textContent = sentence("Analysis failed: " + (s.error_message || "see the result page"));
      } else {
        item.li.dataset.state = "done";
        job.textContent = "Done.";
      }
      return;
    }
    item.li.dataset.state = s.status === "queued" ? "queued" : "analysing";
    item.bar.value = s.progress || 0;
    job.textContent = (s.stage_label || "Waiting in the queue") + " (" + (s.progress || 0) + "%)";
  }

  function poll(item, job, url) {
    setTimeout(function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (s) { showStatus(item, job, s); if (!s.final) poll(item, job, url); })
        .catch(function () { setTimeout(function () { poll(item, job, url); }, 3000); });
    }, 1000);
  }

  function take(files) {
    for (var i = 0; i < files.length; i++) enqueue(files[i]);
  }

  input.addEventListener("change", function () {
    take(input.files);
    input.value = "";  // the same file may be chosen again later
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (input.files && input.files.length) { take(input.files); input.value = ""; }
  });

  // Drag and drop anywhere on the page.
  var depth = 0;
  function hasFiles(e) {
    var types = e.dataTransfer && e.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }
  function showOverlay(on) {
    if (overlay) overlay.hidden = !on;
    form.classList.toggle("dragging", on);
  }
  document.addEventListener("dragenter", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth += 1;
    showOverlay(true);
  });
  document.addEventListener("dragover", function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("dragleave", function (e) {
    if (!hasFiles(e)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) showOverlay(false);
  });
  document.addEventListener("drop", function (e) {
    if (!e.dataTransfer) return;
    e.preventDefault();  // never let the browser open the dropped file instead
    depth = 0;
    showOverlay(false);
    if (e.dataTransfer.files && e.dataTransfer.files.length) take(e.dataTransfer.files);
  });
})();
