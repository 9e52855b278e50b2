// edge-auth demo site: shows the signed-in identity from GET /auth/me.
// External script (no inline JS) so the page works under a strict CSP.
(function () {
  "use strict";

  function byId(id) {
    return document.getElementById(id);
  }

  function setText(id, value, fallback) {
    var el = byId(id);
    if (!el) return;
    var text = value === undefined || value === null || value === "" ? fallback || "\u2014" : String(value);
    el.textContent = text;
    if (text === "\u2014") el.classList.add("muted");
  }

  function initials(name, email) {
    var source = (name || "").trim() || (email || "").split("@")[0] || "?";
    var parts = source.split(/[\s._-]+/).filter(Boolean);
    var letters = parts.length > 1 ? parts[0].charAt(0) + parts[parts.length - 1].charAt(0) : source.charAt(0);
    return letters.toUpperCase();
  }

  function relative(seconds) {
    var abs = Math.abs(seconds);
    var h = Math.floor(abs / 3600);
    var m = Math.round((abs % 3600) / 60);
    if (m === 60) { h += 1; m = 0; }
    var parts = [];
    if (h) parts.push(h + " h");
    if (m || !h) parts.push(m + " min");
    return seconds >= 0 ? "in " + parts.join(" ") : parts.join(" ") + " ago";
  }

  function showExpiry(exp) {
    var el = byId("user-expires");
    if (!el) return;
    var seconds = Number(exp);
    if (!isFinite(seconds) || seconds <= 0) {
      setText("user-expires", null);
      return;
    }
    var date = new Date(seconds * 1000);
    var local;
    try {
      local = new Intl.DateTimeFormat(undefined, {
        dateStyle: "medium",
        timeStyle: "short",
      }).format(date);
    } catch (e) {
      local = date.toLocaleString();
    }
    el.textContent = "";
    var time = document.createElement("time");
    time.dateTime = date.toISOString();
    time.textContent = local;
    el.appendChild(time);
    var rel = document.createElement("span");
    rel.className = "muted";
    rel.textContent = " (" + relative(seconds - Date.now() / 1000) + ")";
    el.appendChild(rel);
  }

  function showStatus(ok, text) {
    var status = byId("status");
    if (status) status.classList.toggle("error", !ok);
    setText("status-text", text);
  }

  function signedOut(message) {
    showStatus(false, message);
    setText("session-title", "Not signed in");
    ["user-name", "user-email", "user-connector", "user-issuer", "user-expires"].forEach(function (id) {
      setText(id, null);
    });
    var statusText = byId("status-text");
    if (statusText) {
      var here = window.location.pathname + window.location.search;
      var link = document.createElement("a");
      link.href = "/auth/login?return_to=" + encodeURIComponent(here);
      link.textContent = "Sign in again";
      statusText.appendChild(document.createTextNode(" "));
      statusText.appendChild(link);
    }
  }

  fetch("/auth/me", {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  })
    .then(function (response) {
      if (response.status === 401) {
        signedOut("Your session has ended.");
        return null;
      }
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (me) {
      if (!me) return;
      var name = me.name || "";
      setText("user-name", name);
      setText("user-email", me.email);
      setText("user-connector", me.connector);
      setText("user-issuer", me.iss);
      showExpiry(me.exp);

      var headerEmail = byId("header-email");
      if (headerEmail) headerEmail.textContent = me.email || "";
      var letters = initials(name, me.email);
      setText("user-avatar", letters);
      setText("user-avatar-large", letters);
      var greeting = byId("greeting");
      if (greeting) greeting.textContent = "Welcome, " + (name.split(" ")[0] || me.email || "there");
      showStatus(true, "You are signed in through single sign-on.");
    })
    .catch(function (err) {
      showStatus(false, "Could not load your session (" + err.message + ").");
    });
})();
