// Poll the job's status endpoint, moving the progress bar and stage list without a reload; once the job
// is final, reload once to show the verdict.
(function () {
  var box = document.getElementById("job");
  if (!box || box.dataset.final === "1") return;
  var url = box.dataset.statusUrl;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        if (s.final) { window.location.reload(); return; }
        var bar = document.getElementById("progress");
        if (bar) bar.value = s.progress;
        var pct = document.getElementById("percent");
        if (pct) pct.textContent = s.progress + "%";
        var stage = document.getElementById("stage");
        if (stage) stage.textContent = s.stage_label;
        var steps = document.querySelectorAll("#stages li");
        var seen = false;
        for (var i = steps.length - 1; i >= 0; i--) {  // the current stage, and every stage before it done
          var current = steps[i].dataset.stage === s.stage;
          if (current) steps[i].setAttribute("aria-current", "step"); else steps[i].removeAttribute("aria-current");
          steps[i].classList.toggle("done", seen);
          if (current) seen = true;
        }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
