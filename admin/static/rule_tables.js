// Rule tables (admin/rule_tables.py, admin/discount_preview.py): what "Try on a cart" does with
// the cart of cart_form.js — a chosen product's label stands in the field, marked as found, and
// another store forgets the products and the customer chosen.
// The server decides everything; this script only fills in ids for what the person chose.
(function () {
  "use strict";

  var form = document.getElementById("discount-preview");
  if (!form) { return; }
  var cart = window.PostdeskCart(form, {
    product: function (line, product) {
      var input = line.querySelector('[name="product_label"]');
      if (product && input.value !== product.label) { input.value = product.label; }
      input.classList.toggle("is-valid", !!product);
    },
  });

  // Another store: the products and the customer chosen belong to the old one.
  var merchant = form.querySelector('[name="merchant_id"]');
  if (merchant) { merchant.addEventListener("change", cart.forget); }
})();
