// Progressive enhancement for the reader. Every feature here has a no-JavaScript equivalent:
// the citation is selectable text, the page links are real links, the texts open with <details>.
(function () {
  "use strict";

  // Copy buttons: hidden in the HTML, shown only when the clipboard can be used.
  function setUpCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source || !navigator.clipboard) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(source.textContent.trim()).then(
          function () { flash(button, "Copied"); },
          function () { selectText(source); flash(button, "Press Ctrl+C to copy"); }
        );
      });
    });
  }

  function flash(button, message) {
    var label = button.textContent;
    button.textContent = message;
    setTimeout(function () { button.textContent = label; }, 2000);
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Left and right arrows follow rel=prev / rel=next, unless the reader is typing.
  function setUpKeyboard() {
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      var target = event.target;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      var rel = event.key === "ArrowLeft" ? "prev" : event.key === "ArrowRight" ? "next" : null;
      if (!rel) return;
      var link = document.querySelector("main a[rel=" + rel + "]");
      if (link) window.location.href = link.href;
    });
  }

  // One button to open or close the text of every page on the screen.
  function setUpTextToggle() {
    var reader = document.querySelector(".reader");
    var boxes = reader ? reader.querySelectorAll("details.page-text-box") : [];
    if (!boxes.length) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "toggle-texts";
    function allOpen() { return Array.prototype.every.call(boxes, function (d) { return d.open; }); }
    function label() { button.textContent = allOpen() ? "Hide page texts" : "Show page texts"; }
    button.addEventListener("click", function () {
      var open = !allOpen();
      boxes.forEach(function (d) { d.open = open; });
      label();
    });
    boxes.forEach(function (d) { d.addEventListener("toggle", label); });
    label();
    var heading = reader.querySelector("h2");
    heading.parentNode.insertBefore(button, heading.nextSibling);
  }

  function start() {
    setUpCopyButtons();
    setUpKeyboard();
    setUpTextToggle();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
