// Manual order entry: the live totals preview, a line's colour/size choices, the recipient a
// chosen customer fills in, the chosen store's warehouses. The cart itself (look-ups, lines) is
// cart_form.js. The server prices everything (services.pricing); this script only asks and shows.
(function () {
  "use strict";
  var form = document.getElementById("new-order");
  if (!form) { return; }
  var totals = document.getElementById("order-totals");

  var cart = window.PostdeskCart;
  var asked = 0;  // the latest preview asked for: an older answer arriving late is dropped
  var preview = cart.debounce(function () {
    var mine = ++asked;
    fetch(form.dataset.preview, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) { if (mine === asked) { totals.innerHTML = html; } })
      .catch(function () { /* the next change asks again */ });
  }, 300);

  function setVariants(row, product) {
    var select = row.querySelector('[name="variant_id"]');
    var keep = select.dataset.selected || select.value;
    select.innerHTML = '<option value="">—</option>';
    (product ? product.variants : []).forEach(function (variant) {
      var option = document.createElement("option");
      option.value = variant.id;
      option.textContent = variant.label;
      if (String(variant.id) === keep) { option.selected = true; }
      select.appendChild(option);
    });
    select.dataset.selected = "";
  }

  cart(form, {
    product: function (row, product, changed) {
      // The typed SKU stays as typed (typing on must still work); the hint names the product.
      var input = row.querySelector('[name="product_label"]');
      var hint = row.querySelector(".product-chosen");
      if (hint) { hint.textContent = product && product.label !== input.value ? product.label : ""; }
      if (changed) { setVariants(row, product); }
    },
    customer: function (customer) {
      if (!customer) { return; }
      [["recipient_name", "name"], ["recipient_phone", "phone"], ["recipient_address", "address"],
       ["recipient_city", "city"], ["recipient_postcode", "postcode"]].forEach(function (pair) {
        var field = document.getElementById(pair[0]);
        if (field && !field.value && customer[pair[1]]) { field.value = customer[pair[1]]; }
      });
    },
    changed: preview,
  });

  // Warehouses of the chosen store only (a superuser enters orders for any store).
  var merchant = form.querySelector('[name="merchant_id"]');
  function filterWarehouses() {
    if (!merchant) { return; }
    form.querySelectorAll('[name="warehouse_id"] option[data-merchant]').forEach(function (o) {
      o.hidden = merchant.value !== "" && o.dataset.merchant !== merchant.value;
    });
  }
  if (merchant) { merchant.addEventListener("change", filterWarehouses); filterWarehouses(); }

  form.addEventListener("change", function (e) {
    if (e.target.name !== "product_label" && e.target.id !== "customer_search") { preview(); }
  });
  if (form.querySelector('[name="product_id"]').value) { preview(); }
})();
