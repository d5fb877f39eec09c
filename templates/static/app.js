// Shows and hides the form's questions as the patient answers, by asking
// the server (the one evaluator of `show_if`): each change posts the
// page's fields to /a/visible, which answers with the ids of the questions
// to show; each shown question's `_shown` field tells the server, when the
// page is sent, that the patient saw it. Without this script the server
// shows the same page again when its answers bring new questions. It also
// shows each slider's range control and keeps it in step with the
// slider's field, which is what the form sends; unticks the other boxes
// when a "none of these" box is ticked (and that box when another is), as
// the server requires; and makes the recovery codes' print button print
// the page. No other script runs on the pages.
(function () {
  "use strict";
  var sliders = document.querySelectorAll("[data-slider]");
  for (var i = 0; i < sliders.length; i++) {
    (function (box) {
      var field = document.getElementById(box.getAttribute("data-slider"));
      var range = box.querySelector("input[type=range]");
      if (!field || !range) return;
      box.hidden = false;
      range.addEventListener("input", function () {
        range.classList.remove("unset");
        field.value = range.value;
      });
      // The handle shows only for an answer the slider can show.
      function follow() {
        var n = Number(field.value.replace(",", "."));
        var ok = field.value.trim() !== "" && !isNaN(n) && n >= Number(range.min) && n <= Number(range.max);
        if (ok) range.value = String(n);
        range.classList.toggle("unset", !ok);
      }
      field.addEventListener("input", follow);
      follow();
    })(sliders[i]);
  }
})();
(function () {
  "use strict";
  var form = document.getElementById("answers");
  if (!form) return;
  // A "none of these" option and the others exclude each other, as the
  // server checks when the page is sent.
  form.addEventListener("change", function (e) {
    var box = e.target;
    if (!box || box.type !== "checkbox" || !box.checked) return;
    var group = form.querySelectorAll("input[type=checkbox][name='" + box.name + "']");
    var exclusive = box.hasAttribute("data-exclusive");
    for (var i = 0; i < group.length; i++) {
      if (group[i] !== box && (exclusive || group[i].hasAttribute("data-exclusive"))) {
        group[i].checked = false;
      }
    }
  });
  var url = form.getAttribute("data-visible");
  if (!url || !window.fetch || !window.URLSearchParams) return;
  var pending = null;
  function update() {
    var body = new URLSearchParams(new FormData(form));
    body.delete("go");
    fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (v) {
        if (!v) return;
        var shown = {};
        v.visible.forEach(function (id) { shown[id] = true; });
        var items = form.querySelectorAll("[data-item]");
        for (var i = 0; i < items.length; i++) {
          var hide = !shown[items[i].getAttribute("data-item")];
          items[i].hidden = hide;
          // The page tells the server which questions the patient saw.
          var mark = items[i].querySelector("input[name=_shown]");
          if (mark) mark.disabled = hide;
        }
      })
      .catch(function () { /* the server decides when the page is sent */ });
  }
  form.addEventListener("change", function () {
    clearTimeout(pending);
    pending = setTimeout(update, 150);
  });
})();
(function () {
  "use strict";
  // A print button (the recovery codes): shown only where it can work.
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function () { window.print(); });
  }
})();
