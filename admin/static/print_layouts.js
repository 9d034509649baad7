// Print forms (the order page's Print card, group print): the Layout list offers only the
// chosen document's layouts. Without this script every layout is listed, and the server prints
// the document's first layout when the chosen one is not the document's.
(function () {
  "use strict";
  document.querySelectorAll('select[name="layout"]').forEach(function (layouts) {
    var documents = layouts.form && layouts.form.querySelector('select[name="document"]');
    if (!documents) { return; }

    function show(pickFirst) {
      var first = null;
      Array.prototype.forEach.call(layouts.options, function (option) {
        var mine = option.getAttribute("data-document") === documents.value;
        // hidden alone does not hide an option everywhere (Safari); disabled keeps it unchosen.
        option.hidden = !mine;
        option.disabled = !mine;
        if (mine && first === null) { first = option; }
      });
      var current = layouts.options[layouts.selectedIndex];
      if (first && (pickFirst || !current || current.disabled)) { first.selected = true; }
    }

    documents.addEventListener("change", function () { show(true); });
    show(false);
  });
})();
