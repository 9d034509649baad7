// The locker terminal simulator (admin/terminal_simulator.py). Every action is one request to
// the real terminal API (/api/v1/terminal/…) with the headers the machine sends: X-Device-Key,
// X-Courier-Token for the courier's steps, a fresh Idempotency-Key per action, and the page's
// language in Accept-Language (refusals come back in it). "Repeat the last request" sends the
// last one again with the same key, as a terminal retrying after a lost answer would: the API
// answers the first answer again and does nothing twice. The device key and courier token live
// in this tab's sessionStorage, per locker.
(function () {
  "use strict";
  var root = document.getElementById("terminal-simulator");
  if (!root) { return; }
  var api = root.getAttribute("data-api");
  var lang = root.getAttribute("data-lang") || "en";
  var T = JSON.parse(document.getElementById("ts-strings").textContent);
  function $(id) { return document.getElementById(id); }
  var state = {token: "", barcode: "", cell: "", code: "", last: null};

  function fmt(text, params) {
    return text.replace(/%\(([a-z_]+)\)s/g, function (_, name) {
      return params && params[name] !== undefined && params[name] !== null ? params[name] : "";
    });
  }
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    return "sim-" + Date.now() + "-" + Math.random().toString(36).slice(2);
  }
  function locker() { return $("ts-locker").value; }
  function stored(name) { return sessionStorage.getItem("ts:" + locker() + ":" + name) || ""; }
  function store(name, value) { sessionStorage.setItem("ts:" + locker() + ":" + name, value); }

  function say(text, ok) {
    var box = $("ts-status");
    box.textContent = text;
    box.className = "alert " + (ok ? "alert-success" : "alert-danger");
  }
  function log(method, path, status, body, replayed) {
    var item = document.createElement("li");
    var head = document.createElement("div");
    head.className = "fw-bold";
    head.textContent = method + " " + api + path + " → " + status + (replayed ? " " + T.replayed : "");
    var pre = document.createElement("pre");
    pre.className = "mb-1";
    pre.textContent = JSON.stringify(body, null, 2);
    item.appendChild(head);
    item.appendChild(pre);
    $("ts-log").insertBefore(item, $("ts-log").firstChild);
  }

  // One request to the terminal API; resolves to the JSON answer, rejects with its message.
  function call(method, path, body, courier, key) {
    var deviceKey = $("ts-device-key").value.trim();
    if (!locker() || !deviceKey) { say(T.choose_locker, false); return Promise.reject(null); }
    if (courier && !state.token) { say(T.sign_in_first, false); return Promise.reject(null); }
    var headers = {"Accept": "application/json", "Accept-Language": lang,
                   "X-Device-Key": deviceKey};
    if (courier) { headers["X-Courier-Token"] = state.token; }
    if (method === "POST") {
      headers["Content-Type"] = "application/json";
      headers["Idempotency-Key"] = key || newKey();
      state.last = {method: method, path: path, body: body, courier: courier,
                    key: headers["Idempotency-Key"]};
      $("ts-repeat").disabled = false;
    }
    return fetch(api + path, {method: method, headers: headers, credentials: "omit",
                              body: method === "POST" ? JSON.stringify(body || {}) : undefined})
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          log(method, path, response.status, data,
              response.headers.get("Idempotent-Replayed") === "true");
          if (!response.ok) {
            var message = data && data.error ? data.error.message : String(response.status);
            say(message, false);
            throw null;
          }
          return data;
        });
      }, function () { say(T.network, false); throw null; });
  }
  function quiet() { /* the refusal is already on the page */ }

  // --- the terminal ------------------------------------------------------------------------
  $("ts-locker").addEventListener("change", function () {
    $("ts-device-key").value = stored("key");
    state.token = stored("token");
    $("ts-courier-name").textContent = stored("courier");
    $("ts-expired-list").textContent = "";
    $("ts-sms-list").textContent = "";
  });
  $("ts-device-key").addEventListener("change", function () {
    store("key", $("ts-device-key").value.trim());
  });
  var issue = $("ts-issue-form");
  if (issue) {
    issue.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!locker()) { say(T.choose_locker, false); return; }
      if (!window.confirm(T.confirm_issue)) { return; }
      var data = new FormData(issue);
      data.set("locker_id", locker());
      fetch(issue.action, {method: "POST", body: data, credentials: "same-origin"})
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (!answer.key) { say(answer.error || "—", false); return; }
          $("ts-device-key").value = answer.key;
          store("key", answer.key);
          say(T.key_issued, true);
        }, function () { say(T.network, false); });
    });
  }

  // --- the courier -------------------------------------------------------------------------
  $("ts-sign-in").addEventListener("submit", function (event) {
    event.preventDefault();
    call("POST", "/courier/sign-in", {badge_number: $("ts-badge").value.trim(),
                                      pin: $("ts-pin").value.trim()}, false)
      .then(function (answer) {
        state.token = answer.token;
        store("token", answer.token);
        store("courier", answer.courier.name);
        $("ts-courier-name").textContent = answer.courier.name;
        $("ts-pin").value = "";
        say(fmt(T.signed_in, {name: answer.courier.name}), true);
        $("ts-barcode").focus();
      }, quiet);
  });
  $("ts-scan").addEventListener("submit", function (event) {
    event.preventDefault();
    var barcode = $("ts-barcode").value.trim();
    call("POST", "/courier/scan", {barcode: barcode}, true).then(function (answer) {
      state.barcode = answer.barcode;
      state.cell = answer.cell;
      $("ts-cell").textContent = fmt(T.open_cell, {cell: answer.cell});
      $("ts-closed").disabled = false;
      say(fmt(T.open_cell, {cell: answer.cell}), true);
      $("ts-closed").focus();
    }, quiet);
  });
  $("ts-closed").addEventListener("click", function () {
    call("POST", "/courier/cell-closed", {barcode: state.barcode, cell: state.cell}, true)
      .then(function (answer) {
        $("ts-closed").disabled = true;
        $("ts-cell").textContent = "";
        $("ts-barcode").value = "";
        say(fmt(T.placed, {barcode: answer.barcode, cell: answer.cell}), true);
      }, quiet);
  });
  $("ts-expired").addEventListener("click", function () {
    call("GET", "/courier/expired", null, true).then(function (answer) {
      var list = $("ts-expired-list");
      list.textContent = "";
      if (!answer.parcels.length) { say(T.no_expired, true); return; }
      answer.parcels.forEach(function (parcel) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "btn btn-sm btn-outline-warning me-2";
        button.textContent = T.collect;
        button.addEventListener("click", function () {
          call("POST", "/courier/collect", {barcode: parcel.barcode}, true).then(function (a) {
            item.remove();
            say(fmt(T.collected, {barcode: a.barcode, cell: a.cell}), true);
          }, quiet);
        });
        item.appendChild(button);
        item.appendChild(document.createTextNode(parcel.barcode + " — " + (parcel.cell || "—")));
        list.appendChild(item);
      });
    }, quiet);
  });

  // --- the buyer ---------------------------------------------------------------------------
  $("ts-sms").addEventListener("click", function () {
    if (!locker()) { say(T.choose_locker, false); return; }
    fetch(root.getAttribute("data-sms-url") + "?locker_id=" + encodeURIComponent(locker()),
          {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        var list = $("ts-sms-list");
        list.textContent = "";
        if (!answer.messages.length) { list.textContent = T.no_sms; return; }
        answer.messages.forEach(function (message) {
          var item = document.createElement("li");
          item.className = "border-bottom py-1 ts-sms";
          var head = document.createElement("div");
          head.className = "text-secondary";
          head.textContent = message.at + " · " + message.barcode + " · " + message.to;
          var text = document.createElement("div");
          text.textContent = message.text;
          item.appendChild(head);
          item.appendChild(text);
          list.appendChild(item);
        });
      }, function () { say(T.network, false); });
  });
  $("ts-code").addEventListener("submit", function (event) {
    event.preventDefault();
    var code = $("ts-code-input").value.trim();
    call("POST", "/code", {code: code}, false).then(function (answer) {
      state.code = code;
      if (answer.next === "pay") {
        $("ts-pay").hidden = false;
        $("ts-due").textContent = fmt(T.pay, {amount: answer.amount_due, currency: answer.currency});
        $("ts-amount").value = answer.amount_due;
        $("ts-open").disabled = true;
        say($("ts-due").textContent, true);
      } else {
        $("ts-pay").hidden = true;
        $("ts-open").disabled = false;
        say(T.may_open, true);
        $("ts-open").focus();
      }
    }, quiet);
  });
  $("ts-pay").addEventListener("submit", function (event) {
    event.preventDefault();
    call("POST", "/payment", {code: state.code, method: $("ts-method").value,
                              amount: $("ts-amount").value.trim()}, false)
      .then(function (answer) {
        var text = fmt(T.paid, {paid: answer.paid, change: answer.change,
                                currency: answer.currency});
        if (answer.credit) {
          text += " " + fmt(T.credited, {amount: answer.credit.amount,
                                         currency: answer.credit.currency,
                                         phone: answer.credit.phone});
        }
        $("ts-pay").hidden = true;
        $("ts-open").disabled = false;
        say(text, true);
      }, quiet);
  });
  $("ts-open").addEventListener("click", function () {
    call("POST", "/open", {code: state.code}, false).then(function (answer) {
      $("ts-open").disabled = true;
      $("ts-code-input").value = "";
      say(fmt(T.picked_up, {cell: answer.cell, barcode: answer.barcode}), true);
    }, quiet);
  });
  $("ts-repeat").addEventListener("click", function () {
    var last = state.last;
    if (last) { call(last.method, last.path, last.body, last.courier, last.key).catch(quiet); }
  });
})();
