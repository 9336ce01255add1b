// linkhop dashboard behaviour. Progressive enhancement only: every page works without it.
// Loaded as a file (CSP script-src 'self'); no inline handlers, no eval.
(function () {
  "use strict";

  // The browser's time zone, so the server shows times (and reads the expiry field) in it.
  function rememberTimeZone() {
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      return;
    }
    if (!zone) return;
    var current = document.cookie.split("; ").find(function (c) {
      return c.indexOf("linkhop_tz=") === 0;
    });
    var wanted = "linkhop_tz=" + encodeURIComponent(zone);
    if (current !== wanted) {
      document.cookie = wanted + "; path=/app; max-age=31536000; SameSite=Lax";
    }
  }

  // Copy buttons: <button data-copy="text" hidden> (hidden until this script can copy).
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "sr-only";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) resolve(); else reject(new Error("copy failed"));
    });
  }

  function showCopyButtons(root) {
    root.querySelectorAll("[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var label = button.getAttribute("aria-label") || "";
    copyText(button.getAttribute("data-copy")).then(function () {
      button.classList.add("copied");
      button.setAttribute("aria-label", "Copied");
      announce("Copied " + button.getAttribute("data-copy"));
      setTimeout(function () {
        button.classList.remove("copied");
        button.setAttribute("aria-label", label);
      }, 1500);
    }, function () {
      announce("Could not copy; select the link and copy it by hand.");
    });
  });

  // A polite live region for screen readers.
  function announce(text) {
    var region = document.getElementById("js-announcer");
    if (!region) {
      region = document.createElement("div");
      region.id = "js-announcer";
      region.className = "sr-only";
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    region.textContent = text;
  }

  // Confirmation before a form with data-confirm is sent. Runs in the capture phase, before
  // htmx or the browser act on the submit.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // UTM preview: the destination with the utm_* fields applied, as the server composes it
  // (linkhop/links/utm.py): same-named parameters replaced in place, others appended.
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];

  function encode(value) {
    // Python's quote(value, safe=""): encodeURIComponent plus !'()*
    return encodeURIComponent(value).replace(/[!'()*]/g, function (c) {
      return "%" + c.charCodeAt(0).toString(16).toUpperCase();
    });
  }

  function paramName(piece) {
    var name = piece.split("=")[0];
    try {
      return decodeURIComponent(name.replace(/\+/g, " "));
    } catch (e) {
      return name;
    }
  }

  function applyUtm(url, values) {
    var wanted = {};
    var any = false;
    UTM.forEach(function (name) {
      if (values[name]) { wanted[name] = values[name]; any = true; }
    });
    if (!any) return url;
    var hashAt = url.indexOf("#");
    var fragment = hashAt >= 0 ? url.slice(hashAt) : "";
    var base = hashAt >= 0 ? url.slice(0, hashAt) : url;
    var queryAt = base.indexOf("?");
    var path = queryAt >= 0 ? base.slice(0, queryAt) : base;
    var query = queryAt >= 0 ? base.slice(queryAt + 1) : "";
    var out = [];
    var placed = {};
    (query ? query.split("&") : []).forEach(function (piece) {
      var name = piece ? paramName(piece) : "";
      if (Object.prototype.hasOwnProperty.call(wanted, name)) {
        if (!placed[name]) { out.push(name + "=" + encode(wanted[name])); placed[name] = true; }
        return;
      }
      out.push(piece);
    });
    UTM.forEach(function (name) {
      if (wanted[name] && !placed[name]) out.push(name + "=" + encode(wanted[name]));
    });
    return path + "?" + out.join("&") + fragment;
  }

  function wireUtmPreview(form) {
    var output = form.querySelector("#utm-preview");
    var url = form.querySelector("[name=url]");
    if (!output || !url) return;
    function update() {
      var values = {};
      UTM.forEach(function (name) {
        var input = form.querySelector("[name=" + name + "]");
        values[name] = input ? input.value.trim() : "";
      });
      var destination = url.value.trim();
      output.textContent = destination ? applyUtm(destination, values) : "—";
    }
    form.addEventListener("input", function (event) {
      var name = event.target.name;
      if (name === "url" || UTM.indexOf(name) >= 0) update();
    });
    update();
  }

  // After a refused form, move focus to the first field with an error.
  function focusFirstError() {
    var invalid = document.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  }

  function init() {
    rememberTimeZone();
    showCopyButtons(document);
    document.querySelectorAll("form[data-utm-preview]").forEach(wireUtmPreview);
    focusFirstError();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  // Content swapped in by htmx (filtered link lists) gets its copy buttons too.
  document.addEventListener("htmx:afterSwap", function (event) {
    showCopyButtons(event.target.parentNode || document);
  });
})();
