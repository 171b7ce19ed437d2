// pyflow dashboard: the only script. Refreshes a page's live part (an instance's
// status, steps and diagram; a workflow's table of instances) by fetching its
// fragment (data-live-url) again until it says it is final (an element with
// data-final="true" inside it). With data-events-url (an instance) it refetches
// on each event of the instance's subscribe stream, and polls only while the
// stream is down; otherwise it polls every data-live-every ms.
"use strict";
(function () {
  const region = document.getElementById("live-region");
  if (!region) return;
  const url = region.dataset.liveUrl;
  const every = Number(region.dataset.liveEvery || 1000);
  let delay = every;
  let timer = null;
  let stream = null;
  let inFlight = false;
  let again = false;

  function isFinal() {
    return region.querySelector('[data-final="true"]') !== null;
  }

  function later() {
    clearTimeout(timer);
    if (isFinal()) {
      if (stream) stream.close();
      return;
    }
    // With a live stream, poll only slowly, as a safety net.
    const wait = stream && stream.readyState === EventSource.OPEN ? 15000 : delay;
    timer = setTimeout(refresh, wait);
  }

  // A part that carries a digest (an instance's) is swapped only when the digest
  // differs; otherwise when the HTML differs from the last one fetched.
  let lastHtml = null;
  function changed(html) {
    const shown = region.querySelector("[data-digest]");
    const found = /data-digest="([^"]*)"/.exec(html);
    if (shown && found) return shown.dataset.digest !== found[1];
    const differs = lastHtml !== null && html !== lastHtml;
    const first = lastHtml === null && html.trim() !== region.innerHTML.trim();
    lastHtml = html;
    return differs || first;
  }

  async function refresh() {
    if (document.hidden) return; // resumed on visibilitychange
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (response.redirected || !response.ok) return; // signed out or gone: keep what is shown
      const html = await response.text();
      if (changed(html)) {
        // One swap of the whole part (status, output and steps together); its height
        // is kept while swapping so that nothing below jumps.
        region.style.minHeight = region.offsetHeight + "px";
        region.innerHTML = html;
        requestAnimationFrame(() => { region.style.minHeight = ""; });
      }
      delay = every;
    } catch (e) {
      delay = Math.min(delay * 2, 15000);
    } finally {
      inFlight = false;
    }
    if (again) { again = false; refresh(); return; }
    later();
  }

  function listen() {
    const source = region.dataset.eventsUrl;
    if (!source || !window.EventSource || isFinal()) return;
    stream = new EventSource(source);
    for (const name of (region.dataset.eventNames || "").split(" ").filter(Boolean)) {
      stream.addEventListener(name, refresh);
    }
    // Said on the region (which is never swapped): the stream was answered.
    stream.onopen = () => { region.dataset.streamOpened = "true"; };
    stream.onerror = () => { if (stream.readyState === EventSource.CLOSED) later(); };
  }

  listen();
  later();
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
