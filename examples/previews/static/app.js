// The page opens one EventSource per prompt and shows each "preview" event
// as it arrives, then the "final" image. It records what it saw, in order,
// in the DOM: <body data-state data-order> and the #log list (time since
// submit, as seen by the browser), so a headless browser test can read it.
"use strict";

(function () {
  const form = document.getElementById("form");
  const prompt = document.getElementById("prompt");
  const button = document.getElementById("go");
  const status = document.getElementById("status");
  const current = document.getElementById("current");
  const drafts = document.getElementById("drafts");
  const log = document.getElementById("log");
  let source = null;
  let started = 0;

  function record(kind, text, attrs) {
    const ms = Math.round(performance.now() - started);
    const li = document.createElement("li");
    li.dataset.kind = kind;
    li.dataset.ms = String(ms);
    for (const [k, v] of Object.entries(attrs || {})) li.dataset[k] = String(v);
    li.textContent = ms + " ms: " + text;
    log.appendChild(li);
    const order = document.body.dataset.order;
    document.body.dataset.order = order ? order + " " + kind : kind;
  }

  function finish(state, text) {
    if (source) source.close(); // never let the browser reconnect: that would generate (and pay) again
    source = null;
    document.body.dataset.state = state;
    status.textContent = text;
    button.disabled = false;
  }

  function show(img, image, label) {
    img.src = image.dataURL;
    img.alt = label;
    img.hidden = false;
  }

  function parse(ev) {
    try {
      return JSON.parse(ev.data);
    } catch (e) {
      return null;
    }
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const text = prompt.value.trim();
    if (!text) return;
    if (source) source.close();
    drafts.replaceChildren();
    log.replaceChildren();
    current.hidden = true;
    current.removeAttribute("src");
    delete current.dataset.final;
    document.body.dataset.order = "";
    document.body.dataset.state = "running";
    status.textContent = "Generating…";
    button.disabled = true;
    started = performance.now();
    record("submit", "submitted");

    source = new EventSource("/generate?prompt=" + encodeURIComponent(text));
    source.addEventListener("preview", function (ev) {
      const p = parse(ev);
      if (!p || !p.images || !p.images.length) return;
      const image = p.images[0];
      show(current, image, "draft " + (p.index + 1));
      const thumb = document.createElement("img");
      show(thumb, image, "draft " + (p.index + 1));
      thumb.className = "draft";
      drafts.appendChild(thumb);
      status.textContent = "Draft " + (p.index + 1) + " received, still working…";
      record("preview", "draft " + (p.index + 1) + " (" + image.bytes + " bytes, server " + p.elapsedMs + " ms)", { index: p.index, serverMs: p.elapsedMs });
    });
    source.addEventListener("final", function (ev) {
      const f = parse(ev);
      if (!f || !f.images || !f.images.length) {
        finish("error", "The server sent an unreadable final event.");
        return;
      }
      show(current, f.images[0], "final image");
      current.dataset.final = "true";
      record("final", "final image (" + f.images[0].bytes + " bytes, server " + f.elapsedMs + " ms) by " +
        f.provider + " " + f.model + (f.cached ? ", from the cache" : ", cost " + f.cost), { serverMs: f.elapsedMs });
      finish("done", "Done: " + f.previews + " draft(s), then the final image.");
    });
    // A server "error" event carries JSON; the browser's own error event
    // (connection refused or dropped) does not.
    source.addEventListener("error", function (ev) {
      const e = ev.data ? parse(ev) : null;
      if (e) {
        record("error", e.kind + ": " + e.message, { requestId: e.requestId });
        finish("error", "Failed: " + e.message + " (request " + e.requestId + ")");
      } else {
        record("error", "connection lost");
        finish("error", "The connection to the server failed.");
      }
    });
  });
})();
