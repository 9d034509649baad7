// The sorting centre's receiving page (admin/sorting_center.py): a USB barcode scanner types the
// barcode into #sc-barcode and presses Enter. The form is posted in the background; the answer
// is this same page, whose outcome (#sc-outcome) and lists (#sc-lists) replace ours. A success
// flashes green; a refusal flashes red and beeps (Web Audio: no sound file to load). The focus
// goes back to the input after every scan, and a key typed anywhere else on the page goes to
// the input, so the page works without a mouse. Without this script the form posts normally.
(function () {
  "use strict";
  var form = document.getElementById("sc-form");
  var input = document.getElementById("sc-barcode");
  if (!form || !input) { return; }
  var busy = false;
  var queue = [];
  var audio = null;

  function focusInput() { input.focus(); input.select(); }

  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) { return; }
      audio = audio || new Context();
      var oscillator = audio.createOscillator();
      var gain = audio.createGain();
      oscillator.type = "square";
      oscillator.frequency.value = 220;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.45);
      oscillator.connect(gain);
      gain.connect(audio.destination);
      oscillator.start();
      oscillator.stop(audio.currentTime + 0.45);
    } catch (error) { /* no sound is no reason to stop scanning */ }
  }

  function flash(ok) {
    var page = document.getElementById("sorting-center");
    page.classList.remove("sc-ok", "sc-error");
    void page.offsetWidth;  // restart the animation on the same class
    page.classList.add(ok ? "sc-ok" : "sc-error");
    window.setTimeout(function () { page.classList.remove("sc-ok", "sc-error"); }, 900);
    if (!ok) { beep(); }
  }

  function swap(html) {
    var answer = new DOMParser().parseFromString(html, "text/html");
    ["sc-outcome", "sc-lists"].forEach(function (id) {
      var fresh = answer.getElementById(id);
      var here = document.getElementById(id);
      if (fresh && here) { here.replaceWith(fresh); }
    });
    var outcome = document.getElementById("sc-outcome");
    return outcome && outcome.getAttribute("data-ok") === "1";
  }

  function send(barcode) {
    busy = true;
    var data = new FormData(form);
    data.set("barcode", barcode);
    fetch(form.action, {method: "POST", body: data, credentials: "same-origin",
                        headers: {"X-Requested-With": "fetch"}})
      .then(function (response) { return response.text(); })
      .then(function (html) { flash(swap(html)); })
      .catch(function () { flash(false); })
      .then(function () {
        busy = false;
        focusInput();
        // Scans made while the previous one was on its way are sent in their order.
        if (queue.length) { send(queue.shift()); }
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var barcode = input.value.trim();
    input.value = "";
    if (!barcode) { focusInput(); return; }
    if (busy) { queue.push(barcode); } else { send(barcode); }
  });

  // A key typed while the focus is elsewhere (after a click on the page) goes to the input;
  // links and buttons keep Enter and Space, and keyboard shortcuts (Ctrl, Alt, Meta) are left.
  document.addEventListener("keydown", function (event) {
    if (event.target === input || event.ctrlKey || event.altKey || event.metaKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") { return; }
    if (event.key && event.key.length === 1) { input.focus(); }
  });
  window.addEventListener("focus", focusInput);
  focusInput();
})();
