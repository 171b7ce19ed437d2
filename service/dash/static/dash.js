// pyflow dashboard: the only script. Refreshes an instance's live part
// (status, steps, diagram) by polling its fragment until the instance ends.
"use strict";
(function () {
  const region = document.getElementById("live-region");
  if (!region) return;
  const url = region.dataset.liveUrl;
  let delay = 1000;
  async function refresh() {
    const live = document.getElementById("live");
    if (!live || live.dataset.final === "true" || document.hidden) {
      if (live && live.dataset.final === "true") return;
      setTimeout(refresh, delay);
      return;
    }
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
      delay = 1000;
    } catch (e) {
      delay = Math.min(delay * 2, 15000);
    }
    setTimeout(refresh, delay);
  }
  setTimeout(refresh, delay);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
