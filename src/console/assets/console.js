// The console's only script: copy buttons, and reloading a page whose run is in progress.
// Every form works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var target = document.getElementById(b.getAttribute("data-copy"));
      if (!target || !navigator.clipboard) { return; }
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        var status = document.getElementById(b.getAttribute("data-copy") + "-copied");
        if (status) { status.textContent = "Copied."; }
      });
    });
  });
  var live = document.querySelector("[data-refresh-seconds]");
  if (live) {
    var s = parseInt(live.getAttribute("data-refresh-seconds"), 10) || 2;
    setTimeout(function () { window.location.reload(); }, s * 1000);
  }
});
