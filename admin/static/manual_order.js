// Manual order entry: product and customer look-ups, cart rows, and the live totals preview.
// The server prices everything (services.pricing); this script only asks and shows.
(function () {
  "use strict";
  var form = document.getElementById("new-order");
  if (!form) { return; }
  var totals = document.getElementById("order-totals");
  var lines = document.querySelector("#order-lines tbody");
  var productChoices = document.getElementById("product_choices");
  var customerChoices = document.getElementById("customer_choices");
  var found = {};  // product label -> product, from the look-ups so far
  var bySku = {};  // lower-case SKU -> product: a typed SKU is the product, no click needed

  function merchantQuery() {
    var merchant = form.querySelector('[name="merchant_id"]');
    return merchant ? "&merchant_id=" + encodeURIComponent(merchant.value) : "";
  }

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

  function lookUp(url, text, done) {
    // A chosen suggestion reads "SKU — Name" (or "Name · phone"): look up by its first part.
    var q = text.split(" — ")[0].split(" · ")[0];
    fetch(url + "?q=" + encodeURIComponent(q) + merchantQuery(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(done)
      .catch(function () { done([]); });
  }

  var asked = 0;  // the latest preview asked for: an older answer arriving late is dropped
  var preview = debounce(function () {
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

  function remember(items) {
    items.forEach(function (item) {
      found[item.label] = item;
      if (item.sku) { bySku[item.sku.toLowerCase()] = item; }
    });
  }

  // The product a row's text names: a chosen suggestion ("SKU — Name") or an exact SKU.
  function match(text) {
    return found[text] || bySku[text.trim().toLowerCase()] || null;
  }

  function chooseProduct(row) {
    var input = row.querySelector('[name="product_label"]');
    var product = match(input.value);
    var id = row.querySelector('[name="product_id"]');
    var changed = id.value !== (product ? String(product.id) : "");
    id.value = product ? product.id : "";
    // The typed SKU stays as typed (typing on must still work); the hint names the product.
    var hint = row.querySelector(".product-chosen");
    if (hint) { hint.textContent = product && product.label !== input.value ? product.label : ""; }
    if (changed) { setVariants(row, product); preview(); }
  }

  function bindRow(row) {
    var input = row.querySelector('[name="product_label"]');
    input.addEventListener("input", debounce(function () {
      if (found[input.value]) { chooseProduct(row); return; }
      lookUp(form.dataset.products, input.value, function (items) {
        remember(items);
        fill(productChoices, items);
        chooseProduct(row);  // an exact SKU selects its product; other text selects none
      });
    }, 250));
    input.addEventListener("change", function () { chooseProduct(row); });
    row.querySelector(".remove-line").addEventListener("click", function () {
      if (lines.querySelectorAll(".order-line").length > 1) { row.remove(); } else {
        row.querySelectorAll("input").forEach(function (i) { i.value = i.name === "quantity" ? "1" : ""; });
        row.querySelectorAll(".product-chosen").forEach(function (h) { h.textContent = ""; });
        setVariants(row, null);
      }
      preview();
    });
  }

  lines.querySelectorAll(".order-line").forEach(bindRow);
  document.getElementById("add-line").addEventListener("click", function () {
    var template = lines.querySelector(".order-line");
    var row = template.cloneNode(true);
    row.querySelectorAll("input").forEach(function (i) { i.value = i.name === "quantity" ? "1" : ""; });
    row.querySelectorAll(".product-chosen").forEach(function (h) { h.textContent = ""; });
    row.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
    setVariants(row, null);
    lines.appendChild(row);
    bindRow(row);
    row.querySelector('[name="product_label"]').focus();
  });

  var customers = {};
  var customerInput = document.getElementById("customer_search");
  var customerId = form.querySelector('[name="customer_id"]');
  function chooseCustomer() {
    var customer = customers[customerInput.value];
    customerId.value = customer ? customer.id : "";
    if (customer) {
      [["recipient_name", "name"], ["recipient_phone", "phone"], ["recipient_address", "address"],
       ["recipient_city", "city"], ["recipient_postcode", "postcode"]].forEach(function (pair) {
        var field = document.getElementById(pair[0]);
        if (field && !field.value && customer[pair[1]]) { field.value = customer[pair[1]]; }
      });
    }
    preview();
  }
  customerInput.addEventListener("input", debounce(function () {
    if (customers[customerInput.value]) { chooseCustomer(); return; }
    if (!customerInput.value) { customerId.value = ""; preview(); return; }
    lookUp(form.dataset.customers, customerInput.value, function (items) {
      items.forEach(function (item) { customers[item.label] = item; });
      fill(customerChoices, items);
      if (customers[customerInput.value]) { chooseCustomer(); }
    });
  }, 250));

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
