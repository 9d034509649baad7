// Postdesk additions to sqladmin's pages.
// 1. Every state-changing request carries the CSRF token (forms, jQuery ajax, fetch).
// 2. Custom actions, which sqladmin opens with GET links, are submitted as POST forms.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta) { return; }
  var token = meta.getAttribute("content");

  function addToken(form) {
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") { return; }
    if (form.querySelector('input[name="csrf_token"]')) { return; }
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrf_token";
    input.value = token;
    form.appendChild(input);
  }

  function postTo(url) {
    var form = document.createElement("form");
    form.method = "POST";
    form.action = url;
    addToken(form);
    document.body.appendChild(form);
    form.submit();
  }

  document.querySelectorAll("form").forEach(addToken);
  document.addEventListener("submit", function (e) { addToken(e.target); }, true);

  if (window.jQuery) {
    window.jQuery.ajaxSetup({ headers: { "X-CSRF-Token": token } });
  }
  var origFetch = window.fetch;
  window.fetch = function (input, init) {
    init = init || {};
    var method = (init.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      var headers = new Headers(init.headers || {});
      headers.set("X-CSRF-Token", token);
      init.headers = headers;
    }
    return origFetch.call(this, input, init);
  };

  function selectedPks() {
    var pks = [];
    document.querySelectorAll(".select-box:checked").forEach(function (box) {
      var hidden = box.parentElement.querySelector('input[type="hidden"]');
      if (hidden) { pks.push(hidden.value); }
    });
    return pks;
  }

  // sqladmin binds its own GET handlers with jQuery; ours run first and stop them.
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[id^='action-custom-'], a[href*='/action/']");
    if (!el) { return; }
    var url = el.getAttribute("data-url");
    if (url) {
      url = url + "?pks=" + selectedPks().join(",");
    } else {
      url = el.getAttribute("href");
    }
    if (!url || url === "#") { return; }
    e.preventDefault();
    e.stopImmediatePropagation();
    postTo(url);
  }, true);
})();
