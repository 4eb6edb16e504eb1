// Moderators' findings pages: "check all", and drawing a redaction box on a page image.
(function () {
  "use strict";
  var all = document.getElementById("check-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('#findings input[name="finding"]').forEach(function (box) {
        box.checked = all.checked;
      });
    });
  }
  var stage = document.getElementById("stage");
  var image = document.getElementById("page-image");
  var drawn = document.getElementById("drawn-box");
  if (!stage || !image || !drawn) return;
  var start = null;
  function fraction(event) {
    var rect = image.getBoundingClientRect();
    return {
      x: Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)),
      y: Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height)),
    };
  }
  function show(a, b) {
    var x0 = Math.min(a.x, b.x), y0 = Math.min(a.y, b.y);
    var x1 = Math.max(a.x, b.x), y1 = Math.max(a.y, b.y);
    drawn.hidden = false;
    drawn.style.left = x0 * 100 + "%";
    drawn.style.top = y0 * 100 + "%";
    drawn.style.width = (x1 - x0) * 100 + "%";
    drawn.style.height = (y1 - y0) * 100 + "%";
    var values = { x0: x0, y0: y0, x1: x1, y1: y1 };
    Object.keys(values).forEach(function (name) {
      document.getElementById(name).value = values[name].toFixed(4);
    });
  }
  image.addEventListener("dragstart", function (event) { event.preventDefault(); });
  stage.addEventListener("pointerdown", function (event) {
    start = fraction(event);
    stage.setPointerCapture(event.pointerId);
  });
  stage.addEventListener("pointermove", function (event) {
    if (start) show(start, fraction(event));
  });
  stage.addEventListener("pointerup", function (event) {
    if (start) show(start, fraction(event));
    start = null;
  });
})();
