// The result page: a per-frame score timeline (plain SVG) synced with the video player, face boxes on
// an uploaded image, and the heatmap viewer (overlay toggle, enlarge in a dialog). No libraries.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var dataNode = document.getElementById("timeline-data");
  var points = dataNode ? JSON.parse(dataNode.textContent) : [];

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  // --- timeline -------------------------------------------------------------------------------
  var box = document.getElementById("timeline");
  var video = document.getElementById("player");
  var playhead = null;
  var geometry = null;

  function drawTimeline() {
    if (!box || !points.length) return;
    var threshold = parseFloat(box.dataset.threshold) || 0.5;
    var band = parseFloat(box.dataset.band) || 0;
    var lastTime = points.reduce(function (m, p) { return Math.max(m, p.time); }, 0);
    var duration = Math.max(parseFloat(box.dataset.duration) || 0, lastTime, 0.001);
    if (video && isFinite(video.duration) && video.duration > 0) duration = Math.max(duration, video.duration);
    var width = Math.max(280, Math.round(box.clientWidth || 600));
    var height = width < 500 ? 170 : 200;
    var pad = { left: 40, right: 12, top: 12, bottom: 30 };
    var plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    var x = function (t) { return pad.left + (t / duration) * plotW; };
    var y = function (s) { return pad.top + (1 - s) * plotH; };
    geometry = { x: x, top: pad.top, bottom: pad.top + plotH };

    box.textContent = "";
    var svg = el("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "group", "aria-label": "Score of each analysed frame over time" }, box);
    // The inconclusive band and the threshold: shaded and dashed, and named in the legend below.
    el("rect", { x: pad.left, width: plotW, y: y(Math.min(1, threshold + band)),
      height: Math.max(0, y(Math.max(0, threshold - band)) - y(Math.min(1, threshold + band))), class: "band" }, svg);
    el("line", { x1: pad.left, x2: pad.left + plotW, y1: y(threshold), y2: y(threshold), class: "threshold" }, svg);
    [0, 0.5, 1].forEach(function (s) {
      el("line", { x1: pad.left - 4, x2: pad.left, y1: y(s), y2: y(s), class: "axis" }, svg);
      el("text", { x: pad.left - 7, y: y(s) + 4, "text-anchor": "end", class: "tick" }, svg).textContent = s.toFixed(1);
    });
    el("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: pad.top + plotH, class: "axis" }, svg);
    el("line", { x1: pad.left, x2: pad.left + plotW, y1: pad.top + plotH, y2: pad.top + plotH, class: "axis" }, svg);
    el("text", { x: pad.left, y: height - 8, class: "tick" }, svg).textContent = "0 s";
    el("text", { x: pad.left + plotW, y: height - 8, "text-anchor": "end", class: "tick" }, svg).textContent =
      duration.toFixed(1) + " s";
    el("text", { x: pad.left + plotW / 2, y: height - 8, "text-anchor": "middle", class: "tick" }, svg).textContent =
      "time →  (fake ↑)";

    // One line per face track, then the points on top.
    var tracks = {};
    points.forEach(function (p) { (tracks[p.track] = tracks[p.track] || []).push(p); });
    Object.keys(tracks).forEach(function (t) {
      var d = tracks[t].map(function (p) { return x(p.time).toFixed(1) + "," + y(p.score).toFixed(1); }).join(" ");
      el("polyline", { points: d, class: "trace trace-" + (t % 4) }, svg);
    });
    // The verdict's three colours and shapes (detection.verdicts): a red triangle for likely fake, an amber
    // diamond inside the inconclusive band, a green circle for likely authentic.
    var WORDS = { fake: "likely fake", inconclusive: "inconclusive", authentic: "likely authentic" };
    points.forEach(function (p) {
      var key = Math.abs(p.score - threshold) < band ? "inconclusive" : (p.score >= threshold ? "fake" : "authentic");
      var label = "Frame " + p.index + " at " + p.time.toFixed(2) + " s, face " + (p.track + 1) + ", score " +
        p.score.toFixed(3) + " (" + WORDS[key] + ")";
      var g = el("g", { class: "point point-" + key, tabindex: "0", role: "button",
        "aria-label": label, "data-time": p.time, "data-index": p.index, "data-verdict": key }, svg);
      el("title", {}, g).textContent = label;
      var cx = x(p.time), cy = y(p.score);
      if (key === "fake") el("path", { d: "M" + cx + "," + (cy - 7) + " L" + (cx + 6.5) + "," + (cy + 5) + " L" + (cx - 6.5) + "," + (cy + 5) + " Z" }, g);
      else if (key === "inconclusive") el("path", { d: "M" + cx + "," + (cy - 7) + " L" + (cx + 6) + "," + cy + " L" + cx + "," + (cy + 7) + " L" + (cx - 6) + "," + cy + " Z" }, g);
      else el("circle", { cx: cx, cy: cy, r: 5.5 }, g);
      el("circle", { cx: cx, cy: cy, r: 14, class: "hit" }, g);  // a bigger target for fingers
      g.addEventListener("click", function () { seek(p.time); });
      g.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); seek(p.time); }
      });
    });
    playhead = el("line", { y1: pad.top, y2: pad.top + plotH, class: "playhead", "aria-hidden": "true" }, svg);
    movePlayhead();
  }

  function seek(time) {
    if (!video) return;
    video.currentTime = time;
    movePlayhead(time);
  }

  function movePlayhead(time) {
    if (!playhead || !geometry) return;
    var t = typeof time === "number" ? time : (video ? video.currentTime : 0);
    var px = geometry.x(t || 0).toFixed(1);
    playhead.setAttribute("x1", px);
    playhead.setAttribute("x2", px);
  }

  if (box) {
    drawTimeline();
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(drawTimeline, 150);
    });
  }
  if (video) {
    // Even the preview failed here (an old browser, a damaged file): say so and point at the frames.
    var fallback = document.getElementById("player-fallback");
    var showFallback = function () { if (fallback) fallback.hidden = false; video.classList.add("unplayable"); };
    video.addEventListener("error", showFallback);
    if (video.error) showFallback();
    ["timeupdate", "seeked", "seeking"].forEach(function (ev) {
      video.addEventListener(ev, function () { movePlayhead(); });
    });
    video.addEventListener("loadedmetadata", drawTimeline);
  }

  // --- face boxes on an image -----------------------------------------------------------------
  var faces = document.getElementById("image-faces");
  if (faces && points.length) {
    var w = parseFloat(faces.dataset.width), h = parseFloat(faces.dataset.height);
    points.forEach(function (p, i) {
      var b = p.box, mark = document.createElement("span");
      mark.className = "face-box";
      mark.style.left = (100 * b[0] / w) + "%";
      mark.style.top = (100 * b[1] / h) + "%";
      mark.style.width = (100 * (b[2] - b[0]) / w) + "%";
      mark.style.height = (100 * (b[3] - b[1]) / h) + "%";
      var tag = document.createElement("span");
      tag.className = "face-tag";
      tag.textContent = "Face " + (i + 1) + " · " + p.score.toFixed(2);
      mark.appendChild(tag);
      faces.appendChild(mark);
    });
  }

  // --- heatmap viewer -------------------------------------------------------------------------
  var toggle = document.getElementById("overlay-toggle");
  var buttons = Array.prototype.slice.call(document.querySelectorAll(".frame-button"));
  function sourceFor(button) {
    return toggle && !toggle.checked ? button.dataset.thumbnail : button.dataset.heatmap;
  }
  if (toggle) {
    toggle.addEventListener("change", function () {
      buttons.forEach(function (b) {
        var img = b.querySelector("img");
        img.src = sourceFor(b);
        img.alt = img.alt.replace(/ (with|without) the heatmap overlay$/, "") +
          (toggle.checked ? " with the heatmap overlay" : " without the heatmap overlay");
      });
    });
  }
  var dialog = document.getElementById("frame-dialog");
  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      if (!dialog) return;
      var img = document.getElementById("frame-dialog-image");
      img.src = sourceFor(b);
      img.alt = b.dataset.caption;
      document.getElementById("frame-dialog-caption").textContent = b.dataset.caption +
        (toggle && !toggle.checked ? " (overlay hidden)" : " (heatmap overlay shown)");
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
    });
  });
  if (dialog) {
    dialog.addEventListener("click", function (e) { if (e.target === dialog) dialog.close(); });
  }

  // --- confirm before deleting ----------------------------------------------------------------
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });
})();
