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

  // A form sent as a whole page (signing out, a decision, the language): the page is being left.
  // A live refresh must then neither start nor act on its answer: one answered after signing out
  // has no session, and its redirect to sign in would replace the page the form leads to.
  // (htmx's own forms are sent by htmx, which prevents their default first.)
  var leaving = false;
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented) leaving = true;
  });
  window.addEventListener("pageshow", function () { leaving = false; });
  ["htmx:beforeRequest", "htmx:beforeOnLoad"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (leaving) event.preventDefault();
    });
  });

  // The session ended while the page was open: to sign in, and back here after. The stream is
  // closed first: the server ends it, and an EventSource left open would connect again.
  document.addEventListener("sse:signed-out", function (event) {
    var source = event.detail && event.detail.target;
    if (source && typeof source.close === "function") source.close();
    if (leaving) return;  // signed out by this page's own form: it goes where the form says
    var here = window.location.pathname + window.location.search;
    window.location.assign(event.detail.data + "&next=" + encodeURIComponent(here));
  });

  // Live regions (templates/_live.html): a part of the page that refreshes itself when the
  // stream (or the polling) says so, swapping only what is inside it. An answer that shows the
  // same as what is shown is not swapped in at all: an open menu stays open, a button being
  // pressed stays put, a form being sent stays sent. A changed one is, and then what had focus
  // keeps it (htmx finds an element by its id; else the same link or button is looked for, else
  // the region itself takes it), a menu that was open stays open, and a status that changed is
  // said to screen readers (the element marked `data-announce`, in #live).
  var before = new WeakMap();

  document.addEventListener("htmx:beforeSwap", function (event) {
    var region = event.detail.target;
    if (!event.detail.shouldSwap || !isRegion(region)) return;
    if (shape(inside(region)) === shape(parsed(event.detail.serverResponse))) {
      event.detail.shouldSwap = false;
      return;
    }
    var focused = region.contains(document.activeElement) ? document.activeElement : null;
    before.set(region, {
      focused: focused && focusKey(focused),
      open: Array.prototype.map.call(region.querySelectorAll("details[open][id]"), function (d) {
        return d.id;
      }),
      said: announcement(region),
    });
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var region = event.detail.target;
    var was = isRegion(region) && before.get(region);
    if (!was) return;
    before.delete(region);
    was.open.forEach(function (id) {
      var menu = document.getElementById(id);
      if (menu) menu.open = true;
    });
    if (was.focused) refocus(region, was.focused);
    var said = announcement(region);
    var live = document.getElementById("live");
    if (live && said && said !== was.said) live.textContent = said;
  });

  function isRegion(element) {
    return !!(element && element.classList && element.classList.contains("live-region"));
  }

  function inside(region) {
    var copy = document.createDocumentFragment();
    region.childNodes.forEach(function (node) { copy.appendChild(node.cloneNode(true)); });
    return copy;
  }

  function parsed(html) {
    var template = document.createElement("template");  // a row's cells parse as cells
    template.innerHTML = html;
    return template.content;
  }

  // What a part shows, as markup to compare: without what the page itself changed on it (a menu
  // opened, a form sent and its buttons disabled, htmx's classes while it swaps).
  var CHANGED_HERE = ["open", "disabled", "data-sent"];
  function shape(fragment) {
    var box = document.createElement("div");
    box.appendChild(fragment);
    box.querySelectorAll("*").forEach(function (element) {
      CHANGED_HERE.forEach(function (name) { element.removeAttribute(name); });
      Array.prototype.slice.call(element.classList).forEach(function (name) {
        if (name.indexOf("htmx-") === 0) element.classList.remove(name);
      });
      if (element.getAttribute("class") === "") element.removeAttribute("class");
    });
    return box.innerHTML.trim();
  }

  // The same control in new content: by id, or by what it is, where it leads and what it says.
  function focusKey(element) {
    if (element.id) return "#" + element.id;
    var form = element.form ? element.form.getAttribute("action") : "";
    return [element.tagName, element.getAttribute("href"), form, element.textContent.trim()].join("|");
  }

  function refocus(region, key) {
    var now = document.activeElement;
    if (now && now !== document.body && document.contains(now)) return;  // htmx kept it
    var controls = region.querySelectorAll("a, button, summary, input, select, textarea, [tabindex]");
    var same = Array.prototype.find.call(controls, function (c) { return focusKey(c) === key; });
    if (!same) {
      region.setAttribute("tabindex", "-1");
      same = region;
    }
    same.focus({ preventScroll: true });
  }

  function announcement(region) {
    var marked = region.querySelector("[data-announce]");
    return marked ? marked.getAttribute("data-announce") : "";
  }
})();
