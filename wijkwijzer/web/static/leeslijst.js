// The reading list (leeslijst), kept in this browser's localStorage: no account, nothing sent to the server
// except as the `?cases=slug1,slug2` link that the visitor asks for. Without this script (or without storage)
// every "Bewaar in leeslijst" stays a plain link to a reading list holding that case, which works on its own.
(function () {
  "use strict";
  var KEY = "wijkwijzer-leeslijst";
  var SLUG = /^[a-z0-9][a-z0-9_-]*(\/[a-z0-9][a-z0-9_-]*)*$/;
  var LIMIT = 50; // the server's MAX_CASES (domain/readinglist.py): a longer link would be cut there

  var printButton = document.querySelector("[data-print]");
  if (printButton) {
    printButton.hidden = false;
    printButton.addEventListener("click", function () { window.print(); });
  }

  var storage = null;
  try {
    storage = window.localStorage;
    storage.setItem(KEY + "-test", "1");
    storage.removeItem(KEY + "-test");
  } catch (e) {
    storage = null; // blocked (privacy settings): the plain links keep working
  }
  if (!storage) { return; }

  function read() {
    try {
      var value = JSON.parse(storage.getItem(KEY) || "[]");
      if (!Array.isArray(value)) { return []; }
      var seen = [];
      value.forEach(function (slug) {
        if (typeof slug === "string" && SLUG.test(slug) && seen.indexOf(slug) < 0 && seen.length < LIMIT) {
          seen.push(slug);
        }
      });
      return seen;
    } catch (e) {
      return [];
    }
  }

  function write(slugs) {
    try {
      storage.setItem(KEY, JSON.stringify(slugs));
      return true;
    } catch (e) {
      return false;
    }
  }

  function cases(n) { return n === 1 ? "1 praktijkvoorbeeld" : n + " praktijkvoorbeelden"; }

  function nowHolds(n) {
    if (n === 0) { return "Uw leeslijst is nu leeg."; }
    return (n === 1 ? "Er staat nu " : "Er staan nu ") + cases(n) + " in uw leeslijst.";
  }

  // What changed is said in a status region, so a screen reader hears it without losing its place.
  var live = document.getElementById("leeslijst-melding");
  if (!live) {
    live = document.createElement("p");
    live.id = "leeslijst-melding";
    live.className = "visually-hidden";
    live.setAttribute("role", "status");
    live.setAttribute("aria-live", "polite");
    document.body.appendChild(live);
  }
  var announceTimer = null;
  function announce(text) {
    // Emptied first, so the same sentence twice in a row is still read out.
    live.textContent = "";
    window.clearTimeout(announceTimer);
    announceTimer = window.setTimeout(function () { live.textContent = text; }, 100);
  }

  var region = document.querySelector("[data-readlist-page]");
  var own = false; // true on the list page when it shows this browser's own list

  function listPath(slugs, base) {
    return slugs.length ? base + "?cases=" + slugs.join(",") : base;
  }

  function label(button, saved) {
    var title = button.getAttribute("data-title") || "";
    button.textContent = saved ? "Verwijder uit leeslijst" : "Bewaar in leeslijst";
    var hidden = document.createElement("span");
    hidden.className = "visually-hidden";
    hidden.textContent = ": " + title;
    button.appendChild(hidden);
  }

  function enhance(root) {
    root.querySelectorAll("a[data-readlist]").forEach(function (link) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = link.className;
      button.setAttribute("data-readlist", link.getAttribute("data-readlist"));
      button.setAttribute("data-title", link.getAttribute("data-title") || "");
      link.replaceWith(button);
    });
  }

  function showCount(n) {
    var nav = document.querySelector("[data-readlist-count]");
    if (!nav) { return; }
    var badge = nav.querySelector(".readlist-count");
    if (!badge) {
      badge = document.createElement("span");
      badge.className = "readlist-count";
      nav.appendChild(badge);
    }
    badge.hidden = n === 0;
    badge.textContent = "";
    // Read as "Leeslijst 3 bewaard": the badge is its own box, so the browser puts a space before it.
    var after = document.createElement("span");
    after.className = "visually-hidden";
    after.textContent = " bewaard";
    badge.append(String(n), after);
  }

  function updateShare(slugs) {
    if (!region || !own) { return; }
    var section = document.getElementById("leeslijst-delen");
    var field = document.querySelector("[data-readlist-share]");
    var printLink = document.querySelector("[data-readlist-print]");
    var base = region.getAttribute("data-list-url");
    if (field) { field.value = new URL(listPath(slugs, base), window.location.href).href; }
    if (printLink) { printLink.setAttribute("href", listPath(slugs, region.getAttribute("data-print-url"))); }
    if (section) { section.hidden = slugs.length === 0; }
    if (region.getAttribute("data-asked") === "ja") {
      window.history.replaceState(null, "", listPath(slugs, base));
    }
  }

  function refresh() {
    var slugs = read();
    document.querySelectorAll("button[data-readlist]").forEach(function (button) {
      label(button, slugs.indexOf(button.getAttribute("data-readlist")) >= 0);
    });
    showCount(slugs.length);
    return slugs;
  }

  // On the own list a removed case leaves the page; focus goes to the next one's button (or the previous one's,
  // or the heading), so a keyboard user stays in the list.
  function dropItem(button) {
    var item = button.closest("li[data-slug]");
    if (!item) { return; }
    var list = item.parentElement;
    var next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    var left = list.querySelectorAll("li[data-slug]").length;
    var heading = document.getElementById("leeslijst-aantal");
    if (heading) { heading.textContent = cases(left); }
    if (left === 0) {
      list.hidden = true;
      if (heading) { heading.hidden = true; }
      var empty = region.querySelector(".readlist-empty");
      if (empty) { empty.hidden = false; }
    }
    var target = next && next.querySelector("button[data-readlist]");
    if (target) {
      target.focus();
    } else {
      document.getElementById("leeslijst-kop").focus();
    }
  }

  function toggle(button) {
    var slug = button.getAttribute("data-readlist");
    var title = "‘" + (button.getAttribute("data-title") || slug) + "’";
    var slugs = read();
    var at = slugs.indexOf(slug);
    if (at < 0 && slugs.length >= LIMIT) {
      announce("Uw leeslijst is vol: er passen " + LIMIT + " praktijkvoorbeelden in. Verwijder er eerst een.");
      return;
    }
    if (at >= 0) { slugs.splice(at, 1); } else { slugs.push(slug); }
    if (!write(slugs)) {
      announce("Bewaren lukte niet: deze browser laat de site niets opslaan.");
      return;
    }
    var onList = own && button.closest("li[data-slug]");
    if (at >= 0 && onList) { dropItem(button); }
    refresh();
    updateShare(slugs);
    announce(title + (at >= 0 ? " is verwijderd uit uw leeslijst. " : " is bewaard in uw leeslijst. ") + nowHolds(slugs.length));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-readlist]");
    if (button) { toggle(button); }
  });
  window.addEventListener("storage", function (event) {
    if (event.key === KEY) { updateShare(refresh()); }
  });

  function sameSet(a, b) {
    return a.length === b.length && a.every(function (slug) { return b.indexOf(slug) >= 0; });
  }

  // A shared list (someone else's link): its cases can be saved one by one or all at once.
  function offerSaveAll(shown) {
    var box = document.createElement("div");
    box.className = "readlist-shared";
    var text = document.createElement("p");
    text.className = "nl-paragraph";
    text.textContent = "U bekijkt een gedeelde leeslijst. Bewaar de praktijkvoorbeelden die u wilt houden in uw eigen leeslijst, één voor één of allemaal tegelijk.";
    var actions = document.createElement("p");
    actions.className = "nl-paragraph button-row";
    var all = document.createElement("button");
    all.type = "button";
    all.className = "nl-button nl-button--secondary";
    all.textContent = "Bewaar alle " + cases(shown.length) + " in mijn leeslijst";
    var mine = document.createElement("a");
    mine.className = "nl-link";
    mine.href = region.getAttribute("data-list-url");
    mine.textContent = "Naar mijn leeslijst";
    actions.append(all, mine);
    box.append(text, actions);
    region.parentNode.insertBefore(box, region);
    all.addEventListener("click", function () {
      var slugs = read();
      var wanted = shown.filter(function (slug) { return slugs.indexOf(slug) < 0; });
      var added = Math.max(0, Math.min(wanted.length, LIMIT - slugs.length));
      slugs = slugs.concat(wanted.slice(0, added));
      var full = added < wanted.length;
      if (!write(slugs)) {
        announce("Bewaren lukte niet: deze browser laat de site niets opslaan.");
        return;
      }
      refresh();
      announce((added === 1 ? "1 praktijkvoorbeeld is" : added + " praktijkvoorbeelden zijn") + " bewaard in uw leeslijst. " +
               (full ? "Niet alles paste: er passen " + LIMIT + " in. " : "") + nowHolds(slugs.length));
    });
  }

  function forget(gone) {
    if (!gone.length) { return; }
    write(read().filter(function (slug) { return gone.indexOf(slug) < 0; }));
  }

  function loadOwn() {
    var slugs = read();
    if (!slugs.length) { return; }
    region.setAttribute("aria-busy", "true");
    window.fetch(listPath(slugs, region.getAttribute("data-list-url")), { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-readlist-page]");
        if (!fresh) { throw new Error("no list in the answer"); }
        region.replaceChildren.apply(region, Array.prototype.map.call(fresh.childNodes, function (node) {
          return document.importNode(node, true);
        }));
        // Cases the site no longer has leave the stored list; the notice above the list names them.
        var missing = region.querySelector("[data-missing]");
        forget(missing ? missing.getAttribute("data-missing").split(",") : []);
        enhance(region);
        updateShare(refresh());
      })
      .catch(function () {
        var error = document.createElement("p");
        error.className = "nl-paragraph";
        error.textContent = "Uw leeslijst kon niet worden geladen. Laad de pagina opnieuw om het nog eens te proberen.";
        region.prepend(error);
      })
      .then(function () { region.removeAttribute("aria-busy"); });
  }

  enhance(document);
  refresh();
  if (region) {
    if (region.getAttribute("data-asked") === "nee") {
      own = true;
      loadOwn();
    } else {
      var shown = Array.prototype.map.call(region.querySelectorAll("li[data-slug]"), function (item) {
        return item.getAttribute("data-slug");
      });
      own = shown.length > 0 && sameSet(shown, read());
      if (!own && shown.length) { offerSaveAll(shown); }
    }
  }
}());
