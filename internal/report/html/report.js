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
  // The rows' text never changes: read it once, for every filtering.
  let texts = null;

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
    // Read each row's key once, not twice per comparison: thousands of rows sort at once.
    const keyed = rows.map((row, i) => ({ row, i, key: numeric ? Number(cellKey(row, col)) : cellKey(row, col) }));
    keyed.sort((a, b) => {
      const c = numeric ? a.key - b.key : collator.compare(a.key, b.key);
      return c === 0 ? a.i - b.i : sign * c;
    });
    headers.forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", dir);
    const frag = document.createDocumentFragment();
    keyed.forEach((k) => frag.appendChild(k.row));
    tbody.insertBefore(frag, nomatch);
  }

  headers.forEach((th, col) => {
    const button = th.querySelector("button");
    if (button) button.addEventListener("click", () => sortBy(col));
  });

  function applyFilter() {
    const terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const want = status.value;
    let n = 0;
    texts = texts || new Map(rows.map((row) => [row, row.textContent.toLowerCase()]));
    rows.forEach((row) => {
      const text = texts.get(row);
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
