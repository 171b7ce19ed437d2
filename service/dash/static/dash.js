// pyflow dashboard: the only script. Refreshes a page's live part (an instance's
// status, steps and diagram; a workflow's table of instances) by polling its
// fragment (data-live-url, every data-live-every ms) until it says it is final
// (an element with data-final="true" inside it). Nothing else needs script.
"use strict";
(function () {
  const region = document.getElementById("live-region");
  if (!region) return;
  const url = region.dataset.liveUrl;
  const every = Number(region.dataset.liveEvery || 1000);
  let delay = every;
  let timer = null;

  function isFinal() {
    return region.querySelector('[data-final="true"]') !== null;
  }

  function later() {
    clearTimeout(timer);
    if (!isFinal()) timer = setTimeout(refresh, delay);
  }

  async function refresh() {
    if (document.hidden) return; // resumed on visibilitychange
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.redirected || !response.ok) return; // signed out or gone: keep what is shown
      const html = await response.text();
      if (html.trim() !== region.innerHTML.trim()) {
        // Keep the height while swapping so that nothing below jumps.
        region.style.minHeight = region.offsetHeight + "px";
        region.innerHTML = html;
        requestAnimationFrame(() => { region.style.minHeight = ""; });
      }
      delay = every;
    } catch (e) {
      delay = Math.min(delay * 2, 15000);
    }
    later();
  }

  later();
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
