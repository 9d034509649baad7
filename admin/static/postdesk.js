// Postdesk additions to sqladmin's pages.
// 1. Every state-changing request carries the CSRF token (forms, jQuery ajax, fetch).
// 2. Custom actions, which sqladmin opens with GET links, are submitted as POST forms.
// 3. The list's filter bar (postdesk/list.html): drop-downs apply on change, related rows are
//    searched as the person types (Select2 over /<view>/filter-lookup), empty fields stay out
//    of the URL; the delete dialog says what the action does, in the page's language.
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

  // --- the list's filter bar -------------------------------------------------------------
  var filters = document.querySelector("form[data-postdesk-filters]");
  if (filters) {
    filters.addEventListener("submit", function () {
      // Only what is set goes into the URL (a saved filter stores it as it reads).
      filters.querySelectorAll("input[name], select[name]").forEach(function (field) {
        if (!field.value) { field.disabled = true; }
      });
    });
    var more = filters.querySelector("[data-postdesk-more-filters]");
    if (more) {
      more.addEventListener("click", function () {
        var open = filters.classList.toggle("postdesk-show-all");
        more.setAttribute("aria-expanded", open ? "true" : "false");
      });
    }
    filters.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { filters.requestSubmit(); });
    });
  }

  function widgetStrings() {
    var node = document.getElementById("postdesk-widget-strings");
    return node ? JSON.parse(node.textContent) : null;
  }

  function lookups() {
    if (!window.jQuery || !window.jQuery.fn.select2) { return; }
    var $ = window.jQuery;
    var strings = widgetStrings();
    var s2 = strings ? strings.select2 : null;
    var language = s2 ? {
      inputTooShort: function () { return s2.inputTooShort; },
      searching: function () { return s2.searching; },
      noResults: function () { return s2.noResults; },
      loadingMore: function () { return s2.loadingMore; },
      errorLoading: function () { return s2.errorLoading; },
      removeAllItems: function () { return s2.removeAllItems; },
      removeItem: function () { return s2.removeItem; },
      search: function () { return s2.search; }
    } : undefined;
    document.querySelectorAll("select[data-postdesk-lookup]").forEach(function (select) {
      var name = select.getAttribute("data-filter-name");
      $(select).select2({
        ajax: {
          url: select.getAttribute("data-postdesk-lookup"),
          dataType: "json",
          delay: 250,
          data: function (params) { return { name: name, term: params.term || "" }; }
        },
        minimumInputLength: 1,
        allowClear: true,
        placeholder: { id: "", text: select.getAttribute("data-placeholder") || "" },
        width: "100%",
        dir: document.documentElement.dir || "ltr",
        language: language
      });
      // Select2 fires jQuery events only; submit the bar as a native change would.
      $(select).on("select2:select select2:clear", function () {
        if (filters) { setTimeout(function () { filters.requestSubmit(); }, 0); }
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", lookups);
  } else {
    lookups();
  }

  // The delete dialog: sqladmin's script writes "This will permanently delete ..." in English
  // whatever the action; the list carries the sentence in the reader's language.
  if (window.jQuery) {
    window.jQuery(document).on("shown.bs.modal", "#modal-delete", function (event) {
      var related = event.relatedTarget ? window.jQuery(event.relatedTarget) : null;
      var text = (related && related.attr("data-confirm")) || this.getAttribute("data-confirm");
      if (text) { window.jQuery("#modal-delete-text").text(text); }
    });
  }
})();
