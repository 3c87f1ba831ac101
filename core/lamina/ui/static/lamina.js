// lamina ui: live updates by polling (no framework). Data comes from data-* attributes.
(function () {
  "use strict";
  var body = document.body;

  function poll(url, every, onData, asText) {
    var stopped = false;
    function tick() {
      if (stopped) { return; }
      fetch(url, {credentials: "same-origin", cache: "no-store"})
        .then(function (r) { return asText ? r.text() : r.json(); })
        .then(function (data) { if (onData(data) === false) { stopped = true; } })
        .catch(function () {})
        .finally(function () { if (!stopped) { setTimeout(tick, every); } });
    }
    setTimeout(tick, every);
  }

  // Runs list: refresh the rows (first page only) while the page is open.
  var rows = document.getElementById("run-rows");
  if (rows && body.dataset.rowsUrl) {
    poll(body.dataset.rowsUrl, 2000, function (html) {
      var tmp = document.createElement("tbody");
      tmp.innerHTML = html;  // server-rendered, escaped by the template engine
      rows.replaceChildren.apply(rows, Array.from(tmp.children));
    }, true);
  }

  // Run page: recolour the DAG and the step table while the run is going.
  if (body.dataset.runLive) {
    poll(body.dataset.runLive, 1000, function (data) {
      data.steps.forEach(function (s) {
        document.querySelectorAll('[data-step="' + CSS.escape(s.name) + '"]').forEach(function (el) {
          el.setAttribute("data-status", s.status);
          if (el.tagName.toLowerCase() === "g") { el.setAttribute("class", "step status-" + s.status); }
          var label = el.querySelector(".step-label");
          if (label) { label.textContent = s.label; }
          var st = el.querySelector(".step-status");
          if (st) { st.textContent = s.status; st.className = "badge step-status status-" + s.status; }
        });
      });
      var badge = document.getElementById("run-status");
      if (badge) {
        badge.textContent = data.status;
        badge.className = "badge status-" + data.status;
      }
      var dur = document.getElementById("run-duration");
      if (dur) { dur.textContent = data.duration; }
      return data.status === "running";
    });
  }

  // Task page of a running run: reload once the task has an outcome.
  if (body.dataset.taskLive) {
    poll(body.dataset.taskLive, 1000, function (data) {
      if (data.status !== body.dataset.taskStatus) { location.reload(); return false; }
      return data.run_status === "running";
    });
  }

  // Compare: pick two runs from the lists and go.
  document.querySelectorAll("form.auto-submit select").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.requestSubmit(); });
  });
})();
