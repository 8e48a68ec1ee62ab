// The voice evidence on the result page: the per-second score strip (and the spectrogram above it)
// synced with the audio or video player. Clicking a second, or the spectrogram, seeks the player there;
// the second playing is highlighted. No libraries.
(function () {
  "use strict";
  var strip = document.getElementById("voice-strip");
  var player = document.getElementById("player");
  var picture = document.getElementById("spectrogram");
  if (!strip) return;
  var seconds = Array.prototype.slice.call(strip.querySelectorAll(".second"));
  var current = null;

  function seek(t) {
    if (!player) return;
    try { player.currentTime = Math.max(0, t); } catch (e) { return; }
    highlight(t);
  }

  function highlight(t) {
    var found = null;
    seconds.forEach(function (button) {
      var start = parseFloat(button.dataset.start), end = parseFloat(button.dataset.end);
      if (t >= start && t < end) found = button;
    });
    if (found === current) return;
    if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
    current = found;
    if (current) { current.classList.add("current"); current.setAttribute("aria-current", "time"); }
  }

  seconds.forEach(function (button) {
    button.addEventListener("click", function () { seek(parseFloat(button.dataset.start) + 0.001); });
  });
  if (picture) {
    picture.addEventListener("click", function (event) {
      var span = parseFloat(picture.dataset.seconds) || 0;
      var rect = picture.getBoundingClientRect();
      if (span > 0 && rect.width > 0) seek(((event.clientX - rect.left) / rect.width) * span);
    });
  }
  if (player) {
    player.addEventListener("timeupdate", function () { highlight(player.currentTime); });
    player.addEventListener("seeked", function () { highlight(player.currentTime); });
  }
})();
