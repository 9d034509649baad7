// The admin's widgets in the reader's language. sqladmin's main.js has already built them in
// English by the time this runs (it is loaded last); the texts come from the page's
// #postdesk-widget-strings JSON (admin/widgets_i18n.py), translated on the server.
(function () {
  "use strict";
  var node = document.getElementById("postdesk-widget-strings");
  if (!node) return;
  var strings = JSON.parse(node.textContent);
  var digits = new Intl.NumberFormat(strings.lang || document.documentElement.lang);

  function fill(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (match, key) {
      return key in values ? digits.format(values[key]) : match;
    });
  }

  // The textarea's character counter: main.js rewrites it in English on every input, so
  // this handler (registered after it) writes it again in the reader's language.
  if (window.jQuery) {
    window.jQuery(".chars-count-label").each(function () {
      var label = window.jQuery(this);
      var textarea = label.prev("textarea");
      if (!textarea.length) return;
      var max = parseInt(textarea.attr("maxlength"), 10) || 0;
      var update = function () {
        var count = textarea.val().length;
        label.text(max ? fill(strings.chars_max, { count: count, max: max })
          : fill(strings.chars, { count: count }));
      };
      textarea.on("input propertychange", update);
      update();
    });
  }

  // Select2's messages live in each instance's translations, resolved when it was built.
  if (window.jQuery && window.jQuery.fn.select2) {
    var s2 = strings.select2;
    var messages = {
      inputTooShort: function () { return s2.inputTooShort; },
      searching: function () { return s2.searching; },
      noResults: function () { return s2.noResults; },
      loadingMore: function () { return s2.loadingMore; },
      errorLoading: function () { return s2.errorLoading; },
      removeAllItems: function () { return s2.removeAllItems; },
      removeItem: function () { return s2.removeItem; },
      search: function () { return s2.search; }
    };
    window.jQuery(".select2-hidden-accessible").each(function () {
      var instance = window.jQuery(this).data("select2");
      if (!instance) return;
      var translations = instance.options.get("translations");
      if (translations && translations.dict) Object.assign(translations.dict, messages);
      // The search box was labelled when the instance was built.
      var label = function () {
        window.jQuery(".select2-search__field").attr("aria-label", s2.search);
      };
      window.jQuery(this).on("select2:open", label);
      label();
    });
  }

  // The date picker: months, weekdays, first day of the week, and the labels it sets once
  // when it builds its time inputs (those are rewritten here, since set() does not).
  if (window.flatpickr) {
    var locale = strings.flatpickr;
    window.flatpickr.localize(locale);  // pickers made from now on
    var english = window.flatpickr.l10ns.en;
    var labels = ["hourAriaLabel", "minuteAriaLabel", "yearAriaLabel", "monthAriaLabel",
      "scrollTitle", "toggleTitle"];
    var translateLabels = function (root) {
      root.querySelectorAll(".flatpickr-calendar [aria-label], .flatpickr-calendar [title]")
        .forEach(function (el) {
          labels.forEach(function (key) {
            // Only a real change: setting the same value would wake the observer below again.
            if (!locale[key] || locale[key] === english[key]) return;
            if (el.getAttribute("aria-label") === english[key]) el.setAttribute("aria-label", locale[key]);
            if (el.getAttribute("title") === english[key]) el.setAttribute("title", locale[key]);
          });
        });
    };
    var relabel = function () {
      document.querySelectorAll(".flatpickr-input").forEach(function (input) {
        var picker = input._flatpickr;
        if (picker && !picker._postdeskLocale) {
          picker._postdeskLocale = true;
          picker.set("locale", locale);
        }
      });
      translateLabels(document);
    };
    // The pickers are built before or after this script runs (sqladmin makes them when the
    // document is ready) and rebuild their time inputs with English labels: relabel now, when
    // ready, and whenever a calendar is added or changed.
    relabel();
    document.addEventListener("DOMContentLoaded", relabel);
    new MutationObserver(function (changes) {
      for (var i = 0; i < changes.length; i++) {
        var node = changes[i].target;
        if (node.nodeType === 1 && (node.closest(".flatpickr-calendar") ||
            node.querySelector && node.querySelector(".flatpickr-calendar, .flatpickr-input"))) {
          relabel();
          return;
        }
      }
    }).observe(document.documentElement, {subtree: true, childList: true,
      attributes: true, attributeFilter: ["aria-label", "title"]});
  }
})();
