// The job page (admin/jobs.py): ask for the job's progress every second and move the bar;
// when the job has finished, reload once so the server renders the file's link (or the error).
(function () {
  "use strict";
  var page = document.getElementById("job-page");
  if (!page) { return; }
  var row = page.querySelector("[data-job]");
  if (!row || row.dataset.state === "done" || row.dataset.state === "failed") { return; }
  var url = page.dataset.statusUrl;
  var every = parseInt(page.dataset.pollMs, 10) || 1000;
  var bar = row.querySelector("[data-job-bar]");
  var state = row.querySelector("[data-job-state]");
  var progress = row.querySelector("[data-job-progress]");

  function poll() {
    fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { setTimeout(poll, every * 3); return; }
        bar.style.width = job.percent + "%";
        bar.parentNode.setAttribute("aria-valuenow", job.percent);
        state.textContent = job.state_label;
        progress.textContent = job.progress;
        row.dataset.state = job.state;
        if (job.finished) { window.location.reload(); return; }
        setTimeout(poll, every);
      })
      .catch(function () { setTimeout(poll, every * 3); });
  }
  setTimeout(poll, every);
})();
