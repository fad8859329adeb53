/* afdecomp transcript browser. Reads data/meta.js (AFD_META: each record's condition, labels,
 * scores) and loads data/chunk-NNNNN.js (the text) when a page shows its records. The state is in
 * the URL hash (#model=...&condition=training&complied=yes&q=...&page=2), so a link opens a
 * filtered view. Every string from the data is inserted with textContent: a transcript is
 * untrusted and none of it is ever parsed as HTML. */
(function () {
  "use strict";
  var M = window.AFD_META;
  var body = document.body;
  if (!M) {
    document.getElementById("status").textContent = "Could not read data/meta.js (is the data folder next to this page?).";
    body.setAttribute("data-state", "error");
    return;
  }
  var KEYS = M.keys;
  var KEY_NAMES = { model: "model", scenario: "scenario", variant: "prompt variant", steer: "steering", condition: "tier" };
  var LABEL_NAMES = { complied: "complied", partial: "partial", af_reasoning: "AF reasoning" };
  var SCORE_NAMES = { compliance_score: "compliance score", af_score: "AF score" };
  var TEXT_NAMES = { query: "Query", reasoning: "Reasoning (scratchpad)", response: "Output" };
  var LABELS = Object.keys(M.labels).filter(function (c) { return /[01]/.test(M.labels[c]); });
  var PER = M.perPage || 50;
  var chunkStarts = M.chunks.map(function (c) { return c[0]; });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }

  /* ------------------------------------------------------------------ chunks (text on demand) */
  var chunks = {}, pending = {}, loadedOrder = [], MAX_CHUNKS = 48;
  window.AFD_CHUNK = function (i, rows) {
    chunks[i] = rows;
    loadedOrder.push(i);
    var p = pending[i];
    if (p) { delete pending[i]; p.resolve(rows); }
  };
  function chunkName(i) { return "data/chunk-" + ("0000" + i).slice(-5) + ".js"; }
  function loadChunk(i) {
    if (chunks[i]) return Promise.resolve(chunks[i]);
    if (pending[i]) return pending[i].promise;
    var d = {};
    d.promise = new Promise(function (res, rej) { d.resolve = res; d.reject = rej; });
    pending[i] = d;
    var s = document.createElement("script");
    s.src = chunkName(i);
    s.onload = function () { s.remove(); };
    s.onerror = function () { delete pending[i]; s.remove(); d.reject(new Error("could not load " + chunkName(i))); };
    document.head.appendChild(s);
    return d.promise;
  }
  function evict(keep) {  // bound the memory a long search uses
    while (loadedOrder.length > MAX_CHUNKS) {
      var i = loadedOrder.shift();
      if (!keep[i]) delete chunks[i];
    }
  }
  function chunkOf(idx) {  // binary search over chunk starts
    var lo = 0, hi = chunkStarts.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (chunkStarts[mid] <= idx) lo = mid; else hi = mid - 1;
    }
    return lo;
  }
  function textOf(idx) { var c = chunkOf(idx); return chunks[c][idx - chunkStarts[c]]; }

  /* ------------------------------------------------------------------ state in the URL hash */
  function readState() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    var st = { q: p.get("q") || "", id: p.get("id") || "", page: Math.max(1, parseInt(p.get("page"), 10) || 1) };
    KEYS.forEach(function (k) { st[k] = p.get(k) || ""; });
    LABELS.forEach(function (k) { st[k] = (p.get(k) || "").toLowerCase(); });
    return st;
  }
  function writeState(st) {
    var p = new URLSearchParams();
    KEYS.concat(LABELS).forEach(function (k) { if (st[k]) p.set(k, st[k]); });
    if (st.q) p.set("q", st.q);
    if (st.id) p.set("id", st.id);
    if (st.page > 1) p.set("page", String(st.page));
    var h = p.toString();
    if (("#" + h) === location.hash || (h === "" && location.hash === "")) render();
    else location.hash = h;
  }

  /* ------------------------------------------------------------------ controls */
  var groupCounts = {};
  KEYS.forEach(function (k, j) {
    var c = new Array(M.values[k].length).fill(0);
    M.groups.forEach(function (g) { c[g[j]] += g[KEYS.length + 1]; });
    groupCounts[k] = c;
  });
  var selects = {};
  KEYS.forEach(function (k) {
    if (M.values[k].length < 2 && k !== "model" && k !== "condition") return;
    var lab = el("label", null, KEY_NAMES[k] || k);
    var s = el("select");
    s.name = k;
    var any = el("option", null, "all (" + fmt(M.n) + ")");
    any.value = "";
    s.appendChild(any);
    M.values[k].forEach(function (v, i) {
      var o = el("option", null, v + " (" + fmt(groupCounts[k][i]) + ")");
      o.value = v;
      s.appendChild(o);
    });
    s.addEventListener("change", function () { var st = readState(); st[k] = s.value; st.page = 1; st.id = ""; writeState(st); });
    lab.appendChild(s);
    document.getElementById("keys").appendChild(lab);
    selects[k] = s;
  });
  LABELS.forEach(function (k) {
    var lab = el("label", null, LABEL_NAMES[k] || k);
    var s = el("select");
    s.name = k;
    [["", "any"], ["yes", "yes"], ["no", "no"], ["na", "not labelled"]].forEach(function (o) {
      var e = el("option", null, o[1]); e.value = o[0]; s.appendChild(e);
    });
    s.addEventListener("change", function () { var st = readState(); st[k] = s.value; st.page = 1; st.id = ""; writeState(st); });
    lab.appendChild(s);
    document.getElementById("labels").appendChild(lab);
    selects[k] = s;
  });
  var qInput = document.getElementById("q");
  document.getElementById("filters").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var st = readState(); st.q = qInput.value.trim(); st.page = 1; st.id = ""; writeState(st);
  });
  document.getElementById("title").textContent = M.title;
  document.title = M.title;
  var about = M.n === M.rows_in_table ? fmt(M.n) + " transcripts" :
    fmt(M.n) + " of the table's " + fmt(M.rows_in_table) + " transcripts (at most " + fmt(M.perCell) + " per group)";
  document.getElementById("about").textContent = about + ", in random order (seed " + M.seed +
    ") within each model × scenario × prompt variant × steering × tier; written " + M.created + ".";
  if (M.text.present.length === 0) {
    var note = document.getElementById("notice");
    note.hidden = false;
    note.textContent = "These records carry no text (no query, reasoning or output was recorded, e.g. a simulated study): only their conditions and labels are shown.";
  }

  function syncControls(st) {
    Object.keys(selects).forEach(function (k) { selects[k].value = st[k] || ""; });
    if (document.activeElement !== qInput) qInput.value = st.q;
  }

  /* ------------------------------------------------------------------ filtering and search */
  var CODE = { yes: "1", no: "0", na: "-" };
  function candidates(st) {
    var want = KEYS.map(function (k) { return st[k] ? M.values[k].indexOf(st[k]) : -2; });
    var labs = LABELS.filter(function (k) { return CODE[st[k]]; });
    var out = [];
    M.groups.forEach(function (g) {
      for (var j = 0; j < KEYS.length; j++) if (want[j] !== -2 && g[j] !== want[j]) return;
      var start = g[KEYS.length], end = start + g[KEYS.length + 1];
      for (var i = start; i < end; i++) {
        var ok = true;
        for (var l = 0; l < labs.length; l++) if (M.labels[labs[l]].charAt(i) !== CODE[st[labs[l]]]) { ok = false; break; }
        if (ok && (!st.id || M.rid[i] === st.id)) out.push(i);
      }
    });
    return out;
  }
  var searchCache = {};
  function search(cands, q, token, filters) {
    var key = filters + "\u0000" + q;  // the same filters give the same candidates
    if (searchCache[key]) return Promise.resolve(searchCache[key]);
    var needle = q.toLowerCase();
    var byChunk = {};
    cands.forEach(function (i) { var c = chunkOf(i); (byChunk[c] = byChunk[c] || []).push(i); });
    var order = Object.keys(byChunk).map(Number).sort(function (a, b) { return a - b; });
    var hits = [], done = 0;
    function step(n) {
      if (token !== renderToken) return Promise.resolve(null);
      if (n >= order.length) { searchCache[key] = hits; return Promise.resolve(hits); }
      var c = order[n];
      return loadChunk(c).then(function (rows) {
        byChunk[c].forEach(function (i) {
          var r = rows[i - chunkStarts[c]];
          for (var f = 0; f < 3; f++) if (r[f] && r[f].toLowerCase().indexOf(needle) >= 0) { hits.push(i); return; }
        });
        done++;
        setStatus("Searching the text… " + done + " of " + order.length + " data files, " + fmt(hits.length) + " matches so far");
        var keep = {}; keep[c] = true; evict(keep);
        return step(n + 1);
      });
    }
    return step(0);
  }

  /* ------------------------------------------------------------------ rendering */
  function setStatus(s) { document.getElementById("status").textContent = s; }
  function groupOf(idx) {
    var lo = 0, hi = M.groups.length - 1, S = KEYS.length;
    while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (M.groups[mid][S] <= idx) lo = mid; else hi = mid - 1; }
    return M.groups[lo];
  }
  function badge(text, cls) { return el("span", "badge " + (cls || ""), text); }
  function marked(node, text, q) {  // the text, with each match of the search in a <mark> (text nodes only)
    var low = text.toLowerCase(), needle = (q || "").toLowerCase();
    if (!needle || low.length !== text.length) { node.textContent = text; return node; }
    var i = 0, j;
    while ((j = low.indexOf(needle, i)) >= 0) {
      node.appendChild(document.createTextNode(text.slice(i, j)));
      node.appendChild(el("mark", null, text.slice(j, j + needle.length)));
      i = j + needle.length;
    }
    node.appendChild(document.createTextNode(text.slice(i)));
    return node;
  }
  function card(idx, pos, total, q) {
    var g = groupOf(idx), a = el("article", "rec");
    a.id = "r-" + M.rid[idx];
    var head = el("div", "head");
    head.appendChild(el("span", "num", "#" + fmt(pos) + " of " + fmt(total)));
    KEYS.forEach(function (k, j) {
      var v = M.values[k][g[j]];
      if ((k === "scenario" && v === "default" && M.values[k].length < 2) || (k === "steer" && v === "none")) return;
      head.appendChild(el("span", "key", (KEY_NAMES[k] || k) + ": " + v));
    });
    if (M.qid && M.qid[idx] !== null) head.appendChild(el("span", "key", "query " + M.qid[idx]));
    if (M.sample) head.appendChild(el("span", "key", "sample " + M.sample[idx]));
    var link = el("a", null, M.rid[idx]);
    link.href = "#id=" + encodeURIComponent(M.rid[idx]);
    link.title = "link to this transcript";
    head.appendChild(link);
    a.appendChild(head);

    var b = el("div", "badges");
    LABELS.forEach(function (k) {  // the label columns that hold any label
      var c = M.labels[k].charAt(idx);
      b.appendChild(badge((LABEL_NAMES[k] || k) + ": " + (c === "1" ? "yes" : c === "0" ? "no" : "not labelled"),
        c === "1" ? "yes" : c === "0" ? "no" : "na"));
    });
    Object.keys(M.scores).forEach(function (k) {
      var v = M.scores[k][idx];
      if (v !== null) b.appendChild(badge((SCORE_NAMES[k] || k) + " " + v.toFixed(2)));
    });
    a.appendChild(b);
    if (M.judges && M.judges.codes[idx] >= 0) a.appendChild(el("div", "judge", "judge: " + M.judges.values[M.judges.codes[idx]]));
    var r = textOf(idx);
    (r[3] || []).forEach(function (v) {
      var L = M.labellings[v[0]];
      var how = L.scoring === "votes" ? v[1].length + (v[1].length === 1 ? " vote" : " votes") : L.scoring;
      var line = el("div", "votes", L.task + " judged by " + L.judge + " (" + how + "): ");
      v[1].forEach(function (ans, n) { if (n) line.appendChild(document.createTextNode(" · ")); line.appendChild(el("span", "vote", ans)); });
      a.appendChild(line);
    });
    M.text.columns.forEach(function (c, f) {
      var name = TEXT_NAMES[c] || c;
      if (r[f] === null || r[f] === undefined || r[f] === "") {
        a.appendChild(el("p", "missing", "no " + name.toLowerCase().replace(/ \(.*\)/, "") + " recorded"));
        return;
      }
      var d = el("details", "text");
      d.open = c !== "query" || (!!q && r[f].toLowerCase().indexOf(q.toLowerCase()) >= 0);  // a matching query opens
      d.appendChild(el("summary", null, name + " (" + fmt(r[f].length) + " characters)"));
      d.appendChild(marked(el("pre", "text"), r[f], q));
      a.appendChild(d);
    });
    return a;
  }
  function pager(id, page, pages) {
    var nav = document.getElementById(id);
    nav.replaceChildren();
    if (pages < 2) return;
    function go(p, label, title) {
      var btn = el("button", null, label);
      btn.type = "button"; btn.title = title;
      btn.disabled = p < 1 || p > pages || p === page;
      btn.addEventListener("click", function () { var st = readState(); st.page = p; writeState(st); window.scrollTo(0, 0); });
      nav.appendChild(btn);
    }
    go(1, "«", "first page"); go(page - 1, "‹", "previous page");
    nav.appendChild(el("span", null, "page " + fmt(page) + " of " + fmt(pages)));
    go(page + 1, "›", "next page"); go(pages, "»", "last page");
  }

  var renderToken = 0, renders = 0;
  function render() {
    var token = ++renderToken, st = readState(), start = performance.now();
    syncControls(st);
    body.setAttribute("data-state", "loading");
    var cands = candidates(st);
    var filters = KEYS.concat(LABELS).map(function (k) { return st[k]; }).concat([st.id]).join("\u0001");
    var found = st.q ? search(cands, st.q, token, filters) : Promise.resolve(cands);
    return found.then(function (list) {
      if (list === null || token !== renderToken) return;
      var pages = Math.max(1, Math.ceil(list.length / PER));
      var page = Math.min(st.page, pages);
      var slice = list.slice((page - 1) * PER, page * PER);
      var need = {};
      slice.forEach(function (i) { need[chunkOf(i)] = true; });
      return Promise.all(Object.keys(need).map(function (c) { return loadChunk(Number(c)); })).then(function () {
        if (token !== renderToken) return;
        var frag = document.createDocumentFragment();
        slice.forEach(function (i, n) { frag.appendChild(card(i, (page - 1) * PER + n + 1, list.length, st.q)); });
        document.getElementById("list").replaceChildren(frag);
        evict(need);
        var what = fmt(list.length) + (list.length === 1 ? " transcript" : " transcripts");
        var filt = KEYS.concat(LABELS).filter(function (k) { return st[k]; }).map(function (k) {
          return (KEY_NAMES[k] || LABEL_NAMES[k] || k) + " = " + st[k];
        });
        if (st.q) filt.push("text contains “" + st.q + "”");
        if (st.id) filt.push("record " + st.id);
        setStatus(what + (filt.length ? " where " + filt.join(", ") : "") + (list.length ? "; page " + fmt(page) + " of " + fmt(pages) + "." : "."));
        pager("pager-top", page, pages); pager("pager-bottom", page, pages);
        var now = performance.now();
        body.setAttribute("data-matches", String(list.length));
        body.setAttribute("data-page", String(page));
        body.setAttribute("data-shown", String(slice.length));
        body.setAttribute("data-render-ms", String(Math.round(now - start)));
        if (!body.hasAttribute("data-first-ms")) body.setAttribute("data-first-ms", String(Math.round(now)));  // since navigation start
        body.setAttribute("data-renders", String(++renders));  // lets a test wait for the next render
        body.setAttribute("data-state", "ready");
        if (st.id && slice.length) { var t = document.getElementById("r-" + st.id); if (t) t.scrollIntoView(); }
      });
    }).catch(function (e) {
      setStatus("Error: " + e.message);
      body.setAttribute("data-state", "error");
    });
  }
  window.addEventListener("hashchange", render);
  render();
})();
