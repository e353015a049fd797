// The report's only script: the filter box, and the rows of large groups, which are kept as
// HTML strings in a JSON block and put into the page only when their group is opened, a page
// at a time. It never fetches anything. When it has run, body[data-ready] is "ok"; any error
// is recorded in body[data-error] (the browser test reads both).
(function () {
  "use strict";
  var body = document.body;
  window.addEventListener("error", function (e) {
    body.dataset.error = String(e.message || e);
  });
  try {
    var PAGE = 500;
    var AUTO_OPEN = 50;
    var lazyBlock = document.getElementById("ocidiff-rows");
    var lazy = JSON.parse(lazyBlock ? lazyBlock.textContent : "{}");
    var fmt = function (n) { return n.toLocaleString("en-US"); };
    var groups = [];

    function nodeOf(item) {
      if (!item.node) {
        var t = document.createElement("template");
        t.innerHTML = item.html;
        item.node = t.content.firstElementChild;
      }
      return item.node;
    }

    function render(g) {
      g.dirty = false;
      var list = g.matches || g.items;
      var n = Math.min(g.shown, list.length);
      var frag = document.createDocumentFragment();
      for (var i = 0; i < n; i++) frag.appendChild(nodeOf(list[i]));
      if (list.length > n) {
        var rest = list.length - n;
        var more = document.createElement("button");
        more.className = "more";
        more.textContent = "Show " + fmt(Math.min(PAGE, rest)) + " more (" + fmt(rest) + " not shown)";
        more.addEventListener("click", function () {
          g.shown += PAGE;
          render(g);
        });
        frag.appendChild(more);
      }
      g.rows.replaceChildren(frag);
    }

    document.querySelectorAll("details.group").forEach(function (el) {
      var g = {
        el: el,
        rows: el.querySelector(".rows"),
        count: el.querySelector(".count"),
        section: el.dataset.section,
        total: Number(el.dataset.total),
        items: [],
        matches: null,
        lazy: false,
        dirty: false,
        shown: PAGE
      };
      var data = lazy[el.id];
      if (data) {
        g.lazy = true;
        g.dirty = true;
        g.items = data.map(function (p) { return { key: p[0], html: p[1], node: null }; });
        el.addEventListener("toggle", function () {
          if (el.open && g.dirty) render(g);
        });
        if (el.open) render(g);
      } else {
        g.rows.querySelectorAll(":scope > details.f").forEach(function (n) {
          g.items.push({ key: n.dataset.k, node: n });
        });
      }
      groups.push(g);
    });

    var input = document.getElementById("q");
    var qCount = document.getElementById("q-count");

    function apply(raw) {
      var q = raw.trim().toLowerCase();
      var perSection = {};
      groups.forEach(function (g) {
        g.matches = q ? g.items.filter(function (it) { return it.key.indexOf(q) >= 0; }) : null;
        var m = g.matches ? g.matches.length : g.total;
        perSection[g.section] = (perSection[g.section] || 0) + m;
        g.count.textContent = q ? fmt(m) + " of " + fmt(g.total) : fmt(g.total);
        g.el.hidden = Boolean(q) && m === 0;
        if (q && m > 0 && m <= AUTO_OPEN) g.el.open = true;
        if (g.lazy) {
          g.shown = PAGE;
          g.dirty = true;
          if (g.el.open) render(g);
        } else {
          var keep = g.matches ? new Set(g.matches) : null;
          g.items.forEach(function (it) { it.node.hidden = keep !== null && !keep.has(it); });
        }
      });
      document.querySelectorAll("[data-section-count]").forEach(function (el) {
        var s = el.dataset.sectionCount;
        var total = Number(el.dataset.total);
        el.textContent = q ? fmt(perSection[s] || 0) + " of " + fmt(total) : fmt(total);
      });
      var all = 0;
      Object.keys(perSection).forEach(function (s) { all += perSection[s]; });
      qCount.textContent = q ? fmt(all) + " matching" : "";
    }

    var timer = null;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        apply(input.value);
        try {
          var here = location.pathname + location.search;
          history.replaceState(null, "", input.value ? "#q=" + encodeURIComponent(input.value) : here);
        } catch (e) {
          // Some browsers refuse replaceState on file:// pages; the filter works regardless.
        }
      }, 120);
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "/" && document.activeElement !== input) {
        e.preventDefault();
        input.focus();
      }
    });
    document.getElementById("open-all").addEventListener("click", function () {
      document.querySelectorAll("details.aside, details.group").forEach(function (d) {
        if (!d.hidden) d.open = true;
      });
    });
    document.getElementById("close-all").addEventListener("click", function () {
      document.querySelectorAll("details.group, details.aside").forEach(function (d) { d.open = false; });
    });

    var hash = /^#q=(.*)$/.exec(location.hash);
    if (hash) {
      input.value = decodeURIComponent(hash[1]);
      apply(input.value);
    }
    body.dataset.ready = "ok";
  } catch (e) {
    body.dataset.error = String((e && e.stack) || e);
  }
})();
