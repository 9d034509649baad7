// The cart of the pages that build one (postdesk/_cart_form.html): the manual order entry
// (manual_order.js) and "Try on a cart" (rule_tables.js). The server decides everything; this
// script only fills in the ids of what the person chose and keeps the lines.
//
// window.PostdeskCart(form, page) binds the form's cart and returns { forget };
// window.PostdeskCart.debounce(fn, ms) is the pause the look-ups wait for, for the pages too.
// The form carries the look-ups' addresses (data-products, data-customers); the lines sit in
// [data-cart-lines] as .cart-line; the suggestion lists are the inputs' own (their `list`).
// What a page does on top, all optional:
//   page.product(line, product, changed): show a line's product (null: none); `changed` is
//     whether its id changed. Also called with null when a line is cleared.
//   page.customer(customer): the customer chosen (null: none any more).
//   page.changed(): after a line's product, a removed line or the customer changed.
// A line's product: the suggestion chosen ("SKU — Name") or a SKU typed exactly (any case),
// so that typing a SKU needs no click.
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function fill(datalist, items) {
    datalist.innerHTML = "";
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.label;
      datalist.appendChild(option);
    });
  }

  window.PostdeskCart = function (form, page) {
    page = page || {};
    var noop = function () {};
    var showProduct = page.product || noop;
    var showCustomer = page.customer || noop;
    var changed = page.changed || noop;
    var lines = form.querySelector("[data-cart-lines]");
    var found = {};  // product label -> product, from the look-ups so far
    var bySku = {};  // lower-case SKU -> product
    var customers = {};  // customer label -> customer

    function merchantQuery() {
      var merchant = form.querySelector('[name="merchant_id"]');
      return merchant ? "&merchant_id=" + encodeURIComponent(merchant.value) : "";
    }

    function lookUp(url, text, done) {
      // A chosen suggestion reads "SKU — Name" or "Name · phone": search by its first part.
      var q = text.split(" — ")[0].split(" · ")[0].trim();
      if (!q) { done([]); return; }
      fetch(url + "?q=" + encodeURIComponent(q) + merchantQuery(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(done)
        .catch(function () { done([]); });
    }

    function match(text) {
      return found[text] || bySku[text.trim().toLowerCase()] || null;
    }

    function choose(line, product) {
      var id = line.querySelector('[name="product_id"]');
      var before = id.value;
      id.value = product ? product.id : "";
      var moved = id.value !== before;
      showProduct(line, product, moved);
      if (moved) { changed(); }
    }

    // A line as new: no product, quantity 1, first choice of every select.
    function clear(line) {
      line.querySelectorAll("input").forEach(function (i) {
        i.value = i.name === "quantity" ? "1" : "";
        i.classList.remove("is-valid");
      });
      line.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
      showProduct(line, null, true);
    }

    function bindLine(line) {
      var input = line.querySelector('[name="product_label"]');
      input.addEventListener("input", debounce(function () {
        if (found[input.value]) { choose(line, found[input.value]); return; }
        // Until the look-up answers, the line has no product (not the one typed over).
        choose(line, null);
        lookUp(form.dataset.products, input.value, function (items) {
          items.forEach(function (item) {
            found[item.label] = item;
            if (item.sku) { bySku[item.sku.toLowerCase()] = item; }
          });
          fill(input.list, items);
          choose(line, match(input.value));
        });
      }, 250));
      // A suggestion picked (or the field left): at once, not after the pause.
      input.addEventListener("change", function () { choose(line, match(input.value)); });
      line.querySelector(".remove-line").addEventListener("click", function () {
        if (lines.querySelectorAll(".cart-line").length > 1) { line.remove(); } else { clear(line); }
        changed();
      });
    }

    lines.querySelectorAll(".cart-line").forEach(bindLine);
    form.querySelector("#add-line").addEventListener("click", function () {
      var line = lines.querySelector(".cart-line").cloneNode(true);
      clear(line);
      lines.appendChild(line);
      bindLine(line);
      line.querySelector('[name="product_label"]').focus();
    });

    var customerInput = form.querySelector("#customer_search");
    var customerId = form.querySelector('[name="customer_id"]');
    function chooseCustomer(customer) {
      var before = customerId.value;
      customerId.value = customer ? customer.id : "";
      if (customer || customerId.value !== before) { showCustomer(customer); changed(); }
    }
    customerInput.addEventListener("input", debounce(function () {
      var known = customers[customerInput.value];
      chooseCustomer(known || null);
      if (known || !customerInput.value) { return; }
      lookUp(form.dataset.customers, customerInput.value, function (items) {
        items.forEach(function (item) { customers[item.label] = item; });
        fill(customerInput.list, items);
        if (customers[customerInput.value]) { chooseCustomer(customers[customerInput.value]); }
      });
    }, 250));

    return {
      // Another store: the products and the customer chosen belong to the old one.
      forget: function () {
        found = {}; bySku = {}; customers = {};
        form.querySelectorAll('[name="product_id"], [name="product_label"], [name="customer_id"], #customer_search')
          .forEach(function (i) { i.value = ""; i.classList.remove("is-valid"); });
      },
    };
  };
  window.PostdeskCart.debounce = debounce;
})();
