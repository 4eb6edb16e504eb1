// Progressive enhancement of /search: results as you type, filters applied on change.
// Without this file the page works the same through its form and its "Apply" button.
(function () {
  "use strict";
  var form = document.getElementById("search-form");
  var input = document.getElementById("search-q");
  if (!form || !input || !window.fetch || !window.DOMParser) return;

  var DELAY_MS = 300; // one request per pause in typing, well under the rate limit
  var timer = null;
  var inflight = null;

  function params() {
    var data = new FormData(form);
    var out = new URLSearchParams();
    data.forEach(function (value, key) {
      // Empty fields and the default order add nothing but noise to the address.
      if (String(value).trim() === "" || (key === "sort" && value === "relevance")) return;
      out.append(key, value);
    });
    return out;
  }

  // After a swap, keep the keyboard where it was: a facet box is found again by its value,
  // since its position (and so its id) can change with the counts.
  function focusKey() {
    var el = document.activeElement;
    if (!el || el === document.body || el === input) return null;
    if (el.type === "checkbox") return '[name="' + CSS.escape(el.name) + '"][value="' + CSS.escape(el.value) + '"]';
    return el.id ? "#" + CSS.escape(el.id) : null;
  }

  // The server renders; we only swap the parts of the page that changed.
  function swap(html) {
    var refocus = focusKey();
    var next = new DOMParser().parseFromString(html, "text/html");
    var main = document.getElementById("main");
    var nextMain = next.getElementById("main");
    if (!main || !nextMain) return;
    ["#search-heading"].forEach(function (sel) {
      var a = main.querySelector(sel), b = nextMain.querySelector(sel);
      if (a && b) a.replaceWith(b);
    });
    var oldPanel = main.querySelector(".facet-panel");
    var wasOpen = oldPanel ? oldPanel.open : null;
    var oldBody = main.querySelector(".search-layout, .search-help");
    var newBody = nextMain.querySelector(".search-layout, .search-help");
    if (oldBody && newBody) oldBody.replaceWith(newBody);
    else if (newBody) main.appendChild(newBody);
    document.title = next.title;
    var status = document.getElementById("search-status");
    var heading = main.querySelector("#results-heading");
    if (status) status.textContent = heading ? heading.textContent.trim() : "";
    if (refocus) {
      var target = main.querySelector(refocus);
      if (target) target.focus();
    }
    var newPanel = main.querySelector(".facet-panel");
    if (newPanel && wasOpen !== null) {
      newPanel.open = wasOpen; // keep the filters as the reader left them
      newPanel.dataset.enhanced = "1";
    }
    enhance();
  }

  function run() {
    var query = params();
    var url = form.getAttribute("action") + (query.toString() ? "?" + query.toString() : "");
    if (inflight) inflight.abort();
    inflight = window.AbortController ? new AbortController() : null;
    fetch(url, { headers: { Accept: "text/html" }, signal: inflight ? inflight.signal : undefined })
      .then(function (response) {
        // A 429 or 400 keeps the results on screen; submitting the form shows the message.
        if (!response.ok) return null;
        return response.text();
      })
      .then(function (html) {
        if (html === null) return;
        swap(html);
        window.history.replaceState(null, "", url);
      })
      .catch(function () { /* aborted by a newer keystroke, or offline */ });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(run, DELAY_MS);
  }

  function enhance() {
    // On a phone the filters start folded so that results come first.
    var panel = document.querySelector(".facet-panel");
    if (panel && window.matchMedia("(max-width: 48rem)").matches && !panel.dataset.enhanced) {
      panel.open = false;
    }
    if (panel) panel.dataset.enhanced = "1";
  }

  input.addEventListener("input", later);
  // Checkboxes, dates and the sort select belong to the form (form="search-form").
  form.addEventListener("change", function (event) {
    if (event.target !== input) run();
  });
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.form === form && !form.contains(target)) run();
  });
  enhance();
})();
