// Shows and hides the form's questions as the patient answers, by asking
// the server (the one evaluator of `show_if`): each change posts the
// page's fields to /a/visible, which answers with the ids of the questions
// to show. Without this script the server does the same when the page is
// sent. No other script runs on the pages.
(function () {
  "use strict";
  var form = document.getElementById("answers");
  if (!form || !window.fetch || !window.URLSearchParams) return;
  var pending = null;
  function update() {
    var body = new URLSearchParams(new FormData(form));
    body.delete("go");
    fetch("/a/visible", {
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
          items[i].hidden = !shown[items[i].getAttribute("data-item")];
        }
      })
      .catch(function () { /* the server decides when the page is sent */ });
  }
  form.addEventListener("change", function () {
    clearTimeout(pending);
    pending = setTimeout(update, 150);
  });
})();
