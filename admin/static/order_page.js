// The order page: the add-line field suggests the store's products and variants as one types
// (the server adds the one whose SKU is chosen or typed), and a tab named in the address
// (#tab-notes after adding a note) opens by itself; a picture that fails shows a placeholder.
(function () {
  "use strict";
  var form = document.getElementById("add-line");
  if (form) {
    var input = form.querySelector('input[name="sku"]');
    var list = document.getElementById("sellables");
    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var text = input.value.trim();
      if (text.length < 2) { return; }
      timer = setTimeout(function () {
        fetch(form.getAttribute("data-search") + "?q=" + encodeURIComponent(text),
              { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (rows) {
            list.textContent = "";
            rows.forEach(function (row) {
              var option = document.createElement("option");
              option.value = row.sku;
              option.label = row.label;
              option.textContent = row.label;
              list.appendChild(option);
            });
          });
      }, 250);
    });
  }
  // A picture that does not load (an old link, no network) leaves the plain placeholder.
  document.querySelectorAll("img.order-thumb").forEach(function (img) {
    function placeholder() {
      var box = document.createElement("span");
      box.className = "order-thumb order-thumb-empty";
      box.innerHTML = '<i class="fa-solid fa-box"></i>';
      img.replaceWith(box);
    }
    if (img.complete && img.naturalWidth === 0) { placeholder(); }
    else { img.addEventListener("error", placeholder); }
  });
  var hash = window.location.hash;
  if (hash && hash.indexOf("#tab-") === 0) {
    var link = document.querySelector('#order-tabs a[href="' + hash + '"]');
    if (link && window.bootstrap && window.bootstrap.Tab) {
      window.bootstrap.Tab.getOrCreateInstance(link).show();
    } else if (link) {
      link.click();
    }
  }
})();
