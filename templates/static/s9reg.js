// s9reg catalogue: progressive enhancement only. Every page works without this file.
"use strict";

(function () {
  function searchPage() {
    var index = window.s9regSearchIndex;
    var section = document.getElementById("search");
    var list = document.getElementById("cards");
    if (!index || !section || !list) { return; }
    var input = document.getElementById("search-q");
    var category = document.getElementById("search-category");
    var status = document.getElementById("search-status");
    var empty = document.getElementById("search-empty");
    var byId = {};
    index.packages.forEach(function (p) { byId[p.id] = p; });
    var cards = Array.prototype.slice.call(list.querySelectorAll("li.card"));
    section.hidden = false;
    var fallback = document.getElementById("search-fallback");
    if (fallback) { fallback.hidden = true; }

    function apply() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var cat = category.value;
      var shown = 0;
      cards.forEach(function (card) {
        var p = byId[card.getAttribute("data-id")];
        var ok = !!p && words.every(function (w) { return p.text.indexOf(w) !== -1; }) &&
          (!cat || p.categories.indexOf(cat) !== -1);
        card.hidden = !ok;
        if (ok) { shown += 1; }
      });
      empty.hidden = shown !== 0;
      status.textContent = (words.length || cat)
        ? shown + " of " + cards.length + " packages match"
        : "";
    }

    var params = new URLSearchParams(window.location.search);
    if (params.get("q")) { input.value = params.get("q"); }
    if (params.get("category")) { category.value = params.get("category"); }
    input.addEventListener("input", apply);
    category.addEventListener("change", apply);
    document.getElementById("search-form").addEventListener("submit", function (e) {
      e.preventDefault();
      apply();
    });
    apply();
  }

  function copyButtons() {
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
      var field = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById("copy-status");
      if (!field) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        field.select();
        var done = function () { status.textContent = "Copied to the clipboard."; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(field.value).then(done, function () {
            status.textContent = "Select the URL and copy it.";
          });
        } else {
          status.textContent = document.execCommand("copy") ? "Copied to the clipboard." : "Select the URL and copy it.";
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    searchPage();
    copyButtons();
  });
}());
