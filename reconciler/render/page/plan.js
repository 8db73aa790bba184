"use strict";
(function () {
  const PAGE = __PAGE_ROWS__;
  const data = JSON.parse(document.getElementById("plan-data").textContent);
  const S = data.s, C = data.c, P = data.p;
  const lower = S.map(function (s) { return s.toLowerCase(); });
  const $ = function (id) { return document.getElementById(id); };
  const state = {view: "change", school: -1, kind: -1, action: -1, q: "", page: 0, hits: []};
  function fill(select, column) {
    const seen = new Set();
    for (const row of C) seen.add(row[column]);
    for (const i of seen) {
      const o = document.createElement("option");
      o.value = String(i); o.textContent = S[i]; select.appendChild(o);
    }
  }
  fill($("school"), 0); fill($("kind"), 2); fill($("action"), 3);
  function rowMatches(row) {
    if (state.school >= 0 && row[0] !== state.school) return false;
    if (state.kind >= 0 && row[2] !== state.kind) return false;
    if (state.action >= 0 && row[3] !== state.action) return false;
    return true;
  }
  function textMatches(row, q) {
    return lower[row[6]].includes(q) || lower[row[1]].includes(q) || (row[5] >= 0 && lower[row[5]].includes(q));
  }
  function filter() {
    const q = state.q, hits = [];
    if (state.view === "change") {
      for (let i = 0; i < C.length; i++) {
        const row = C[i];
        if (rowMatches(row) && (!q || textMatches(row, q))) hits.push(i);
      }
    } else {
      for (let i = 0; i < P.length; i++) {
        const own = P[i][1].filter(function (r) { return rowMatches(C[r]); });
        if (own.length && (!q || lower[P[i][0]].includes(q) || own.some(function (r) { return textMatches(C[r], q); }))) hits.push(i);
      }
    }
    state.hits = hits; state.page = 0;
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text; tr.appendChild(td); return td;
  }
  function changeRow(body, i, withCourse) {
    const row = C[i], tr = document.createElement("tr");
    tr.className = "change a-" + S[row[3]];
    if (withCourse) { cell(tr, S[row[0]]); cell(tr, S[row[1]]); }
    const td = cell(tr, S[row[6]], "line");
    if (row[4] >= 0 && S[row[4]]) { const why = document.createElement("span"); why.className = "why"; why.textContent = "  # " + S[row[4]]; td.appendChild(why); }
    if (row[7] >= 0) { const pre = document.createElement("pre"); pre.className = "fields"; pre.textContent = S[row[7]]; td.appendChild(pre); }
    body.appendChild(tr);
  }
  function draw() {
    const body = $("rows"), hits = state.hits;
    const pages = Math.max(1, Math.ceil(hits.length / PAGE));
    const start = state.page * PAGE, end = Math.min(hits.length, start + PAGE);
    const fresh = document.createElement("tbody"); fresh.id = "rows";
    for (let n = start; n < end; n++) {
      if (state.view === "change") {
        changeRow(fresh, hits[n], true);
      } else {
        const person = P[hits[n]], head = document.createElement("tr");
        head.className = "person";
        const th = document.createElement("th"); th.colSpan = 3; th.textContent = S[person[0]]; head.appendChild(th);
        fresh.appendChild(head);
        for (const r of person[1]) if (rowMatches(C[r])) changeRow(fresh, r, true);
      }
    }
    body.replaceWith(fresh);
    const what = state.view === "change" ? (hits.length === 1 ? "change" : "changes") : (hits.length === 1 ? "person" : "people");
    $("count").textContent = hits.length.toLocaleString("en") + " " + what;
    $("page").textContent = "page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0; $("next").disabled = state.page + 1 >= pages;
  }
  function update() { filter(); draw(); }
  function num(id) { const v = $(id).value; return v === "" ? -1 : Number(v); }
  $("view").addEventListener("change", function () { state.view = $("view").value; update(); });
  $("school").addEventListener("change", function () { state.school = num("school"); update(); });
  $("kind").addEventListener("change", function () { state.kind = num("kind"); update(); });
  $("action").addEventListener("change", function () { state.action = num("action"); update(); });
  $("search").addEventListener("input", function () { state.q = $("search").value.trim().toLowerCase(); update(); });
  $("prev").addEventListener("click", function () { state.page -= 1; draw(); });
  $("next").addEventListener("click", function () { state.page += 1; draw(); });
  update();
  document.body.dataset.renderedMs = String(Math.round(performance.now()));
})();
