// The live check page: a camera or a shared tab/screen in, small JPEG frames out over a WebSocket, the
// server's answers shown as they come (running score, rolling verdict, face heatmaps). No libraries.
//
// Pacing: at most `in_flight` frames (from the server's "ready") are unanswered at once, and at most
// CLIENT_FPS a second, so the rate follows how fast answers come back. After the first face is found, the
// page sends only the region around it (face-sized); without a recent face it sends the whole picture.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("live-config").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var video = $("live-video");
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d");

  var CLIENT_FPS = 5;          // frames a second at most from this page (the server caps lower if it says so)
  var FULL_SIDE = 480;         // the whole picture: at most this many pixels on its long side
  var FACE_SIDE = 320;         // the region around a face: at most this
  var FACE_REGION = 2.2;       // the region's side, in face sizes
  var FACE_FRESH_MS = 2000;    // a face box older than this is not trusted for cropping
  var HISTORY_SECONDS = 60;    // the chart's span
  var HEATMAPS = 4;            // heatmaps shown

  var ICONS = { idle: "○", waiting: "…", no_face: "○", authentic: "✓", inconclusive: "?", suspicious: "⚠" };

  var socket = null, stream = null, limits = null, sending = false, encoding = false;
  var seq = 0, lastSent = 0, faceBox = null, faceAt = 0, threshold = null, band = null;
  var sent = new Map();        // seq -> {at, crop: {x, y, w, h}, scale}
  var latencies = [];          // ms, the last 50 answers
  var points = [];             // {t, score, running}
  var stopping = false;

  function status(text) { $("live-status").textContent = text || ""; }

  function buttons(running) {
    $("live-camera").disabled = running;
    $("live-screen").disabled = running;
    $("live-stop").disabled = !running;
  }

  async function start(kind) {
    status("");
    $("live-saved").hidden = true;
    try {
      stream = kind === "camera"
        ? await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 } }, audio: false })
        : await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      status("No picture: " + (error && error.message ? error.message : "the browser refused") + ".");
      return;
    }
    video.srcObject = stream;
    try { await video.play(); } catch (error) { /* autoplay of a muted stream is allowed; ignore */ }
    stream.getVideoTracks().forEach(function (track) { track.addEventListener("ended", stop); });
    $("live-idle").hidden = true;
    buttons(true);
    connect();
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    seq = 0; sent.clear(); latencies = []; points = []; stopping = false;
    socket = new WebSocket(scheme + location.host + config.socket);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", function (event) { handle(JSON.parse(event.data)); });
    socket.addEventListener("close", closed);
    setVerdict({ key: "waiting", text: "Connecting…" });
  }

  function handle(message) {
    switch (message.type) {
      case "ready":
        limits = message.limits;
        band = message.band;
        sending = true;
        $("live-save").disabled = false;
        setVerdict({ key: "waiting", text: "Waiting for a face" });
        tick();
        break;
      case "score":
        show(message, answered(message));
        break;
      case "dropped":
        answered(message);
        break;
      case "saved":
        $("live-saved").hidden = false;
        $("live-saved-link").href = message.url;
        $("live-save").disabled = !sending;
        status("Saved " + message.seconds + " s of this session.");
        break;
      case "ended":
        sending = false;
        status(message.message);
        break;
      case "error":
      case "notice":
        status(message.message);
        if (message.code !== "saving") { $("live-save").disabled = socket === null || socket.readyState !== 1; }
        break;
    }
  }

  // --- sending ----------------------------------------------------------------------------------
  function tick() {
    if (!sending) { return; }
    trySend();
    setTimeout(tick, 40);
  }

  function trySend() {
    if (!sending || encoding || !socket || socket.readyState !== 1 || video.readyState < 2) { return; }
    var rate = Math.min(CLIENT_FPS, limits.max_fps);
    if (sent.size >= limits.in_flight || performance.now() - lastSent < 1000 / rate) { return; }
    var vw = video.videoWidth, vh = video.videoHeight;
    if (!vw || !vh) { return; }
    var crop = { x: 0, y: 0, w: vw, h: vh }, side = FULL_SIDE;
    if (faceBox && performance.now() - faceAt < FACE_FRESH_MS) {
      var size = Math.max(faceBox[2] - faceBox[0], faceBox[3] - faceBox[1]) * FACE_REGION;
      var cx = (faceBox[0] + faceBox[2]) / 2, cy = (faceBox[1] + faceBox[3]) / 2;
      var x = Math.max(0, Math.min(vw - size, cx - size / 2)), y = Math.max(0, Math.min(vh - size, cy - size / 2));
      crop = { x: Math.max(0, x), y: Math.max(0, y), w: Math.min(size, vw), h: Math.min(size, vh) };
      side = FACE_SIDE;
    }
    var scale = Math.min(1, side / Math.max(crop.w, crop.h));
    canvas.width = Math.max(1, Math.round(crop.w * scale));
    canvas.height = Math.max(1, Math.round(crop.h * scale));
    context.drawImage(video, crop.x, crop.y, crop.w, crop.h, 0, 0, canvas.width, canvas.height);
    encoding = true;
    canvas.toBlob(function (blob) {
      if (!blob || blob.size > limits.max_frame_bytes) { encoding = false; return; }
      blob.arrayBuffer().then(function (buffer) {
        encoding = false;
        if (!sending || !socket || socket.readyState !== 1) { return; }
        seq += 1;  // the server numbers frames in arrival order, as here
        sent.set(seq, { at: performance.now(), crop: crop, scale: scale });
        lastSent = performance.now();
        socket.send(buffer);
      });
    }, "image/jpeg", 0.9);
  }

  function answered(message) {
    var frame = sent.get(message.seq);
    sent.delete(message.seq);
    if (frame && message.type === "score") {
      latencies.push(performance.now() - frame.at);
      if (latencies.length > 50) { latencies.shift(); }
    }
    if (message.counts) {
      $("live-dropped").textContent = message.counts.dropped;
    }
    trySend();  // answers drive the pace (timers are slowed in a background tab, e.g. while sharing a tab)
    return frame;
  }

  // --- showing ----------------------------------------------------------------------------------
  function show(message, sentFrame) {
    var frame = sentFrame || { crop: { x: 0, y: 0 }, scale: 1 };
    var scored = Number($("live-scored").dataset.value) + 1;
    $("live-scored").dataset.value = scored;
    $("live-scored").textContent = scored;
    if (message.threshold != null) {
      threshold = message.threshold;
      $("live-threshold").textContent = threshold.toFixed(2);
    }
    if (message.status === "ok") {
      faceBox = message.box.map(function (v, i) {
        return (i % 2 === 0 ? frame.crop.x : frame.crop.y) + v / frame.scale;
      });
      faceAt = performance.now();
      $("live-last").textContent = message.score.toFixed(3) + (message.faces > 1 ? " (" + message.faces + " faces, the highest)" : "");
      if (message.heatmap) { addHeatmap(message); }
    } else {
      faceBox = null;
      $("live-last").textContent = "no face";
    }
    drawBox();
    if (message.running != null) {
      $("live-running").textContent = message.running.toFixed(3);
      $("live-running").dataset.value = message.running;
    }
    setVerdict(message.verdict);
    var sorted = latencies.slice().sort(function (a, b) { return a - b; });
    if (sorted.length) {
      $("live-latency").textContent = Math.round(sorted[Math.floor(sorted.length / 2)]) + " ms (median)";
    }
    points.push({ t: message.t, score: message.status === "ok" ? message.score : null, running: message.running });
    while (points.length && points[0].t < message.t - HISTORY_SECONDS) { points.shift(); }
    drawChart(message.t);
  }

  function setVerdict(verdict) {
    if (!verdict) { return; }
    $("live-verdict").dataset.key = verdict.key;
    $("live-verdict-icon").textContent = ICONS[verdict.key] || "?";
    $("live-verdict-text").textContent = verdict.text;
  }

  function clock(t) {
    var s = Math.max(0, Math.floor(t));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function addHeatmap(message) {
    var list = $("live-heatmaps");
    var item = document.createElement("li");
    var image = document.createElement("img");
    image.src = "data:image/jpeg;base64," + message.heatmap;
    image.alt = "Heatmap of the face at " + clock(message.t) + ", score " + message.score.toFixed(2);
    var caption = document.createElement("span");
    caption.textContent = clock(message.t) + " · " + message.score.toFixed(2);
    item.appendChild(image);
    item.appendChild(caption);
    list.insertBefore(item, list.firstChild);
    while (list.children.length > HEATMAPS) { list.removeChild(list.lastChild); }
  }

  function drawBox() {
    var box = $("live-box");
    if (!faceBox || !video.videoWidth) { box.hidden = true; return; }
    var stage = $("live-stage").getBoundingClientRect();
    var scale = Math.min(stage.width / video.videoWidth, stage.height / video.videoHeight);
    var left = (stage.width - video.videoWidth * scale) / 2, top = (stage.height - video.videoHeight * scale) / 2;
    box.style.left = (left + faceBox[0] * scale) + "px";
    box.style.top = (top + faceBox[1] * scale) + "px";
    box.style.width = ((faceBox[2] - faceBox[0]) * scale) + "px";
    box.style.height = ((faceBox[3] - faceBox[1]) * scale) + "px";
    box.hidden = false;
  }

  function drawChart(now) {
    var svg = $("live-chart");
    var start = Math.max(0, now - HISTORY_SECONDS);  // the first minute fills from the left, then it scrolls
    var x = function (t) { return (300 * (t - start) / HISTORY_SECONDS).toFixed(1); };
    var y = function (v) { return (90 - 90 * v).toFixed(1); };
    var line = function (key) {
      return points.filter(function (p) { return p[key] != null; })
        .map(function (p) { return x(p.t) + "," + y(p[key]); }).join(" ");
    };
    svg.querySelector(".frames").setAttribute("points", line("score"));
    svg.querySelector(".running").setAttribute("points", line("running"));
    if (threshold != null) {
      var limit = svg.querySelector(".threshold");
      limit.setAttribute("y1", y(threshold));
      limit.setAttribute("y2", y(threshold));
      if (band != null) {
        var shade = svg.querySelector(".band");
        shade.setAttribute("y", y(Math.min(1, threshold + band)));
        shade.setAttribute("height", (90 * (Math.min(1, threshold + band) - Math.max(0, threshold - band))).toFixed(1));
      }
    }
  }

  // --- stopping, saving, closing ----------------------------------------------------------------
  function stop() {
    sending = false;
    stopping = true;
    if (socket && socket.readyState === 1) { socket.send(JSON.stringify({ type: "stop" })); }
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
    video.srcObject = null;
    $("live-idle").hidden = false;
    $("live-box").hidden = true;
    buttons(false);
  }

  function closed(event) {
    sending = false;
    $("live-save").disabled = true;
    if (!stopping && event.code !== 1000) {
      var words = { 1006: "The connection was lost." };
      if (!$("live-status").textContent) { status(words[event.code] || "The live check closed (" + (event.reason || event.code) + ")."); }
    }
    if (stream) { stop(); }
    if ($("live-verdict").dataset.key === "waiting") { setVerdict({ key: "idle", text: "Stopped" }); }
    socket = null;
  }

  function save() {
    if (!socket || socket.readyState !== 1) { return; }
    $("live-save").disabled = true;
    status("Saving this session…");
    socket.send(JSON.stringify({ type: "save" }));
  }

  $("live-camera").addEventListener("click", function () { start("camera"); });
  $("live-screen").addEventListener("click", function () { start("screen"); });
  $("live-stop").addEventListener("click", stop);
  $("live-save").addEventListener("click", save);
  window.addEventListener("resize", drawBox);
  // Phones have no getDisplayMedia: the button is not offered at all (a disabled one only puzzles).
  if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) { $("live-screen").hidden = true; }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    $("live-camera").disabled = true;
    status("This browser cannot share a camera or screen with the page (it needs HTTPS, or localhost).");
  }
})();
