// edge-auth sign-in page. External script (no inline JS) so the page works under a strict CSP.
// Copies ?return_to= from the page URL into the form when it is a same-origin relative path; the worker
// validates it again, this is only a convenience.
(function () {
  "use strict";

  var form = document.getElementById("login-form");
  var email = document.getElementById("email");
  var returnTo = document.getElementById("return_to");
  var button = document.getElementById("continue");
  if (!form || !email || !returnTo || !button) return;

  // The labels are the page's own (the worker renders it in the visitor's language).
  var label = button.textContent;
  var busyLabel = button.getAttribute("data-busy") || label;

  var params = new URLSearchParams(window.location.search);
  var target = params.get("return_to");
  // A path on this origin only: "/x", never "//host" or "/\host".
  if (target && target.charAt(0) === "/" && target.charAt(1) !== "/" && target.charAt(1) !== "\\") {
    returnTo.value = target;
    returnTo.disabled = false; // disabled inputs are not submitted: no empty return_to otherwise
  }

  // Pre-fill the address if the worker sent the visitor back here with ?email= or ?login_hint=.
  var hint = params.get("login_hint") || params.get("email");
  if (hint && !email.value) {
    email.value = hint;
  }

  // The worker takes internationalised domains in their ASCII (xn--) form: let the browser's URL parser
  // (UTS #46) convert what the visitor typed, e.g. jürgen@bücher.example -> jürgen@xn--bcher-kva.example.
  function asciiDomain(address) {
    var at = address.lastIndexOf("@");
    if (at < 1) return address;
    var domain = address.slice(at + 1);
    if (/^[\x00-\x7f]*$/.test(domain)) return address;
    try {
      return address.slice(0, at + 1) + new URL("http://" + domain).hostname;
    } catch (e) {
      return address;
    }
  }

  form.addEventListener("submit", function (event) {
    email.value = asciiDomain(email.value.trim());
    if (!form.checkValidity()) {
      event.preventDefault();
      form.reportValidity();
      return;
    }
    button.setAttribute("aria-busy", "true");
    button.textContent = busyLabel;
  });

  // Coming back with the browser's Back button restores the page from the bfcache: reset the button.
  window.addEventListener("pageshow", function () {
    button.removeAttribute("aria-busy");
    button.textContent = label;
  });
})();
