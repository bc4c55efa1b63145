// vaspgate console: progressive refresh. A page region marked data-refresh="N" (seconds)
// is reloaded in place every N seconds while the tab is visible, so a delivery in flight is
// seen to finish without a click. Everything works without this script.
(function () {
  "use strict";
  var region = document.querySelector("[data-refresh]");
  if (!region) return;
  var every = Math.max(1, parseInt(region.getAttribute("data-refresh"), 10) || 5) * 1000;
  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        if (next) document.querySelector("main").replaceWith(next);
        if (next && next.querySelector("[data-refresh]")) setTimeout(tick, every);
      })
      .catch(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
