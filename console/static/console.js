// assocflow console: the little the pages need beyond HTML and htmx.
(function () {
  "use strict";

  // A form marked `once` is sent once: a double click does not send it again. (Reload and the
  // back button are the server's: each form answers with a redirect, and a submit's form id
  // makes a second one the same request.)
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("once")) return;
    if (form.dataset.sent === "yes") {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "yes";
    // After this tick, so that the button's own name and value still go with the form.
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });
  // A page shown again from the back/forward cache gets its forms back.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form.once").forEach(function (form) {
      delete form.dataset.sent;
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });

  // The reason's counter: characters used of the 500 allowed.
  document.addEventListener("input", function (event) {
    var field = event.target;
    var counter = field.dataset && field.dataset.counter && document.getElementById(field.dataset.counter);
    if (counter) counter.textContent = field.value.length + " / " + field.maxLength;
  });

  // Live updates come by Server-Sent Events; if the stream fails, the page polls instead.
  var POLL_EVERY_MS = 15000;
  var polling = null;
  document.addEventListener("htmx:sseError", function () {
    if (polling) return;
    polling = setInterval(function () { htmx.trigger(document.body, "poll"); }, POLL_EVERY_MS);
  });
  document.addEventListener("htmx:sseOpen", function () {
    if (!polling) return;
    clearInterval(polling);
    polling = null;
  });

  // The session ended while the page was open: to sign in, and back here after. The stream is
  // closed first: the server ends it, and an EventSource left open would connect again.
  document.addEventListener("sse:signed-out", function (event) {
    var source = event.detail && event.detail.target;
    if (source && typeof source.close === "function") source.close();
    var here = window.location.pathname + window.location.search;
    window.location.assign(event.detail.data + "&next=" + encodeURIComponent(here));
  });

  // Say what changed to screen readers when a live part of the page is replaced.
  document.addEventListener("htmx:afterSwap", function (event) {
    var live = document.getElementById("live");
    var part = event.detail && event.detail.elt;
    if (!live || !part || !part.classList || !part.classList.contains("request-live")) return;
    var status = part.querySelector(".status");
    if (status) live.textContent = "The request is now: " + status.textContent;
  });
})();
