"use strict";
// Sorting and filtering of the findings table. It reads only the page's own text (textContent
// and data-v attributes) and writes only classes, hidden flags and text, never HTML, so no value
// from the data can become markup here.
(function () {
  const table = document.getElementById("findings");
  if (!table) return;
  const tbody = table.tBodies[0];
  const rows = Array.from(tbody.querySelectorAll("tr.finding"));
  const nomatch = document.getElementById("nomatch");
  const filter = document.getElementById("filter");
  const status = document.getElementById("status-filter");
  const shown = document.getElementById("shown");
  const printNote = document.getElementById("print-note");
  const headers = Array.from(table.tHead.rows[0].cells);
  rows.forEach((row, i) => { row.dataset.order = String(i); });

  function cellKey(row, col) {
    const cell = row.cells[col];
    return cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent.trim();
  }

  const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

  function sortBy(col) {
    const th = headers[col];
    const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    const numeric = th.dataset.type === "num";
    const sign = dir === "ascending" ? 1 : -1;
    const sorted = rows.slice().sort((a, b) => {
      const x = cellKey(a, col), y = cellKey(b, col);
      let c = numeric ? Number(x) - Number(y) : collator.compare(x, y);
      if (c === 0) return Number(a.dataset.order) - Number(b.dataset.order);
      return sign * c;
    });
    headers.forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", dir);
    sorted.forEach((row) => tbody.insertBefore(row, nomatch));
  }

  headers.forEach((th, col) => {
    const button = th.querySelector("button");
    if (button) button.addEventListener("click", () => sortBy(col));
  });

  function applyFilter() {
    const terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const want = status.value;
    let n = 0;
    rows.forEach((row) => {
      const text = row.textContent.toLowerCase();
      const ok = (!want || row.dataset.status === want) && terms.every((t) => text.includes(t));
      row.hidden = !ok;
      if (ok) n++;
    });
    nomatch.hidden = n > 0 || rows.length === 0;
    const filtered = n !== rows.length;
    shown.textContent = filtered ? "Showing " + n + " of " + rows.length + " findings" : rows.length + " findings";
    printNote.textContent = filtered ? "Filtered" + (filter.value ? " by \u201c" + filter.value + "\u201d" : "") +
      (want ? " (status " + want + ")" : "") + ": " + n + " of " + rows.length + " findings shown." : "";
  }

  filter.addEventListener("input", applyFilter);
  status.addEventListener("change", applyFilter);
  document.getElementById("controls").hidden = false;
  applyFilter();
})();
