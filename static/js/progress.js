// Poll the job's status endpoint until it is final, then reload to show the verdict.
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
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
