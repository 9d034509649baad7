// Rule tables (admin/rule_tables.py, admin/discount_preview.py): the product and customer
// look-ups of "Try on a cart".
// The server decides everything; this script only fills in ids for what the person chose.
(function () {
  "use strict";

  var form = document.getElementById("discount-preview");
  if (!form) { return; }
  var lines = document.getElementById("preview-lines");
  var productChoices = document.getElementById("preview_products");
  var customerChoices = document.getElementById("preview_customers");
  var products = {};   // label -> product, from the look-ups so far
  var customers = {};

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

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

  function fill(datalist, items) {
    datalist.innerHTML = "";
    items.forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.label;
      datalist.appendChild(option);
    });
  }

  function exact(items, text) {
    // The label chosen from the list, or a product whose SKU was typed exactly.
    var typed = text.trim().toLowerCase();
    for (var i = 0; i < items.length; i++) {
      if (items[i].label === text || (items[i].sku && items[i].sku.toLowerCase() === typed)) {
        return items[i];
      }
    }
    return null;
  }

  function bindLine(line) {
    var input = line.querySelector('[name="product_label"]');
    var id = line.querySelector('[name="product_id"]');
    function choose(product) {
      id.value = product ? product.id : "";
      if (product && input.value !== product.label) { input.value = product.label; }
      input.classList.toggle("is-valid", !!product);
    }
    input.addEventListener("input", debounce(function () {
      if (products[input.value]) { choose(products[input.value]); return; }
      id.value = "";
      input.classList.remove("is-valid");
      lookUp(form.dataset.products, input.value, function (items) {
        items.forEach(function (item) { products[item.label] = item; });
        fill(productChoices, items);
        var found = exact(items, input.value);
        if (found) { choose(found); }
      });
    }, 250));
    line.querySelector(".remove-line").addEventListener("click", function () {
      if (lines.querySelectorAll(".preview-line").length > 1) { line.remove(); return; }
      input.value = ""; id.value = "";
      line.querySelector('[name="quantity"]').value = "1";
    });
  }

  lines.querySelectorAll(".preview-line").forEach(bindLine);
  document.getElementById("add-line").addEventListener("click", function () {
    var line = lines.querySelector(".preview-line").cloneNode(true);
    line.querySelectorAll("input").forEach(function (i) {
      i.value = i.name === "quantity" ? "1" : "";
      i.classList.remove("is-valid");
    });
    lines.appendChild(line);
    bindLine(line);
    line.querySelector('[name="product_label"]').focus();
  });

  var customerInput = document.getElementById("customer_search");
  var customerId = form.querySelector('[name="customer_id"]');
  customerInput.addEventListener("input", debounce(function () {
    var known = customers[customerInput.value];
    customerId.value = known ? known.id : "";
    if (known || !customerInput.value) { return; }
    lookUp(form.dataset.customers, customerInput.value, function (items) {
      items.forEach(function (item) { customers[item.label] = item; });
      fill(customerChoices, items);
      if (customers[customerInput.value]) { customerId.value = customers[customerInput.value].id; }
    });
  }, 250));

  // Another store: the products and the customer chosen belong to the old one.
  var merchant = form.querySelector('[name="merchant_id"]');
  if (merchant) {
    merchant.addEventListener("change", function () {
      products = {}; customers = {};
      form.querySelectorAll('[name="product_id"], [name="product_label"], [name="customer_id"], #customer_search')
        .forEach(function (i) { i.value = ""; i.classList.remove("is-valid"); });
    });
  }
})();
