// Rejects page: polls /api/rejects?limit=50 and /api/labels every 2 s; /rejects#<seq> (or a click) opens the
// detail view, where a technician labels the part's defect type (POST /api/rejects/<seq>/label, token needed).
"use strict";

(() => {
  const { api, errorText, setError, clearError, sig, epochTime, setVerdict, el } = window.EI;
  const $ = (id) => document.getElementById(id);

  const records = new Map(); // seq (string) -> newest record seen
  const cards = new Map(); // seq (string) -> .reject element (kept so thumbnails are not reloaded)
  let loadedOnce = false;
  let openSeq = null;
  const AUTHOR_KEY = "edge-inspector-author";
  let labelInfo = { enabled: false, off: "", run_id: null, suggested: [], seen: [] };
  const labelOf = new Map(); // seq (string) -> newest label row of this run
  let typeChoices = "";

  // ------------------------------------------------------------------ gallery

  function evidenceUrl(seq, kind) {
    return `/api/rejects/${encodeURIComponent(seq)}/${kind}.png`;
  }

  function noImage(container, text) {
    container.replaceChildren(el("span", text, "no-image"));
  }

  function makeCard(rec) {
    const seq = String(rec.seq);
    const card = el("a", null, "reject");
    card.href = "#" + seq;
    card.dataset.seq = seq;

    const thumb = el("div", null, "thumb");
    if (rec.evidence === false) {
      noImage(thumb, "no evidence image");
    } else {
      const img = document.createElement("img");
      img.alt = `evidence for part ${seq}`;
      img.loading = "lazy";
      img.addEventListener("error", () => noImage(thumb, "no evidence image"));
      img.src = evidenceUrl(seq, "annotated");
      thumb.append(img);
    }

    const meta = el("div", null, "meta");
    const head = el("div", null, "meta-head");
    head.append(el("span", null, "verdict verdict-badge"), el("span", null, "r-score"));
    meta.append(head, el("div", null, "r-seq"), el("div", null, "r-reason"), el("div", null, "r-time"),
      el("div", null, "r-label"));
    card.append(thumb, meta);
    card.addEventListener("click", (ev) => {
      ev.preventDefault();
      if (location.hash === "#" + seq) openDetail(seq);
      else location.hash = seq; // hashchange opens it; Back closes it
    });
    return card;
  }

  function fillCard(card, rec) {
    setVerdict(card.querySelector(".verdict-badge"), rec.verdict);
    card.classList.toggle("reject-FAIL", rec.verdict === "FAIL");
    card.classList.toggle("reject-FAULT", rec.verdict === "FAULT");
    card.querySelector(".r-score").textContent = "score " + sig(rec.score);
    card.querySelector(".r-seq").textContent = `#${rec.seq}${rec.name ? " · " + rec.name : ""}`;
    card.querySelector(".r-reason").textContent = rec.reason || "";
    card.querySelector(".r-time").textContent = epochTime(rec.decided_at);
    const label = labelOf.get(String(rec.seq));
    card.querySelector(".r-label").textContent = label ? `label: ${label.defect_type} · ${label.author}` : "";
  }

  function renderList(list) {
    const seen = new Set();
    const ordered = [];
    for (const rec of list) {
      if (!rec || rec.seq === undefined || rec.seq === null) continue;
      const seq = String(rec.seq);
      if (seen.has(seq)) continue;
      seen.add(seq);
      records.set(seq, rec);
      let card = cards.get(seq);
      if (!card) {
        card = makeCard(rec);
        cards.set(seq, card);
      }
      fillCard(card, rec);
      ordered.push(card);
    }
    for (const seq of Array.from(cards.keys())) if (!seen.has(seq)) cards.delete(seq);
    const container = $("rejects");
    const same =
      container.children.length === ordered.length && ordered.every((c, i) => container.children[i] === c);
    if (!same) container.replaceChildren(...ordered);
    $("rejects-empty").hidden = ordered.length > 0;
  }

  async function refresh() {
    await refreshLabels();
    try {
      const data = await api("/api/rejects?limit=50");
      clearError("rejects");
      renderList(Array.isArray(data.rejects) ? data.rejects : []);
      if (!loadedOnce) {
        loadedOnce = true;
        openFromHash();
      }
    } catch (e) {
      setError("rejects", errorText(e));
    }
  }

  // ------------------------------------------------------------------ labels

  async function refreshLabels() {
    try {
      const data = await api("/api/labels");
      clearError("labels");
      labelInfo = data;
      labelOf.clear();
      for (const row of (data.labels || []).slice().reverse()) {
        if (row && row.run_id === data.run_id) labelOf.set(String(row.seq), row); // newest wins
      }
      $("labels-off").hidden = !!data.enabled;
      $("labels-off").textContent = data.enabled ? "" : data.off || "labelling is off";
      fillTypeChoices();
      if (openSeq !== null) fillLabelBox(openSeq);
    } catch (e) {
      setError("labels", errorText(e));
    }
  }

  function fillTypeChoices() {
    const types = [];
    for (const t of [...(labelInfo.suggested || []), ...(labelInfo.seen || [])]) {
      if (typeof t === "string" && t && !types.includes(t)) types.push(t);
    }
    const key = types.join("\n");
    if (key === typeChoices && $("label-type").options.length) return;
    typeChoices = key;
    const select = $("label-type");
    const chosen = select.value;
    const options = [new Option("— choose —", "")];
    for (const t of types) options.push(new Option(t, t));
    options.push(new Option("good (false reject: no defect)", "good"));
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }

  function fillLabelBox(seq) {
    const label = labelOf.get(String(seq));
    $("label-current").textContent = label
      ? `labelled ${label.defect_type} by ${label.author}${label.note ? " (" + label.note + ")" : ""}`
      : "not labelled yet";
    $("label-submit").disabled = !labelInfo.enabled;
    if (!labelInfo.enabled) showLabelResult("error", labelInfo.off || "labelling is off");
  }

  function showLabelResult(kind, text) {
    const node = $("label-result");
    node.className = "result " + kind;
    node.textContent = text;
  }

  async function submitLabel() {
    if (openSeq === null) return;
    const seq = openSeq;
    const defectType = $("label-custom").value.trim() || $("label-type").value;
    const author = $("label-author").value.trim();
    if (!defectType) return showLabelResult("error", "pick a type, or type a new one");
    if (!author) return showLabelResult("error", "your name: needed for the audit log");
    const body = { defect_type: defectType, author };
    const note = $("label-note").value.trim();
    if (note) body.note = note;
    $("label-submit").disabled = true;
    showLabelResult("pending", "saving…");
    try {
      const data = await api(`/api/rejects/${encodeURIComponent(seq)}/label`, { method: "POST", json: body, auth: true });
      const saved = data.label;
      labelOf.set(String(seq), saved);
      showLabelResult("ok", `saved: ${saved.defect_type} → ${saved.file}` +
        (saved.previous && saved.previous !== saved.file ? ` (moved from ${saved.previous})` : ""));
      $("label-custom").value = "";
      const card = cards.get(String(seq));
      const rec = records.get(String(seq));
      if (card && rec) fillCard(card, rec);
      fillLabelBox(seq);
    } catch (e) {
      showLabelResult("error", errorText(e));
    } finally {
      $("label-submit").disabled = !labelInfo.enabled;
    }
  }

  // ------------------------------------------------------------------ detail

  function showImage(imgId, missingId, url, missingText) {
    const img = $(imgId);
    const missing = $(missingId);
    if (!url) {
      img.removeAttribute("src");
      img.hidden = true;
      missing.textContent = missingText;
      missing.hidden = false;
      return;
    }
    img.hidden = false;
    missing.hidden = true;
    img.src = url;
  }

  function fillDetail(seq, rec) {
    $("detail-seq").textContent = "#" + seq;
    const missing = $("detail-missing");
    missing.hidden = !!rec;
    missing.textContent = rec ? "" : `part ${seq} is not among the recent rejects; showing its evidence files only`;

    setVerdict($("detail-verdict"), rec ? rec.verdict : null);
    $("detail-score").textContent = rec ? sig(rec.score) : "—";
    $("detail-threshold").textContent = rec ? sig(rec.threshold) : "—";
    $("detail-time").textContent = rec ? epochTime(rec.decided_at) : "—";
    $("detail-name").textContent = rec && rec.name ? rec.name : "—";
    $("detail-reason").textContent = rec && rec.reason ? rec.reason : "";

    showImage("detail-annotated", "detail-annotated-missing", evidenceUrl(seq, "annotated"), "no evidence image");
    const isFail = !rec || rec.verdict === "FAIL";
    $("detail-raw-figure").hidden = !isFail;
    if (isFail) showImage("detail-raw", "detail-raw-missing", evidenceUrl(seq, "raw"), "no raw image");
    else showImage("detail-raw", "detail-raw-missing", null, "no raw image (raw is kept for FAIL only)");

    const boxes = rec && Array.isArray(rec.boxes) ? rec.boxes : [];
    $("detail-boxes").replaceChildren(
      ...boxes.map((b) =>
        el(
          "li",
          `x ${b.x}, y ${b.y}, w ${b.w}, h ${b.h}, area ${b.area}, peak ${sig(b.peak)}`,
          "box",
        ),
      ),
    );
    $("detail-boxes-empty").hidden = boxes.length > 0;
  }

  async function openDetail(seq) {
    seq = String(seq);
    openSeq = seq;
    let rec = records.get(seq) || null;
    fillDetail(seq, rec);
    if (seq !== $("label-result").dataset.seq) showLabelResult("", "");
    $("label-result").dataset.seq = seq;
    fillLabelBox(seq);
    $("detail").hidden = false;
    $("detail").classList.add("open");
    if (!rec) {
      // not in the 50 shown: look further back once
      try {
        const data = await api("/api/rejects?limit=200");
        clearError("detail");
        rec = (data.rejects || []).find((r) => r && String(r.seq) === seq) || null;
        if (rec && openSeq === seq) fillDetail(seq, rec);
      } catch (e) {
        setError("detail", errorText(e));
      }
    }
  }

  function closeDetail() {
    openSeq = null;
    $("detail").hidden = true;
    $("detail").classList.remove("open");
    clearError("detail");
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  }

  function openFromHash() {
    const seq = decodeURIComponent(location.hash.replace(/^#/, "")).trim();
    if (seq) openDetail(seq);
    else if (openSeq !== null) closeDetail();
  }

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", () => {
    $("detail-annotated").addEventListener("error", () => {
      if ($("detail-annotated").getAttribute("src")) {
        showImage("detail-annotated", "detail-annotated-missing", null, "no evidence image");
      }
    });
    $("detail-raw").addEventListener("error", () => {
      if ($("detail-raw").getAttribute("src")) showImage("detail-raw", "detail-raw-missing", null, "no raw image");
    });
    $("detail-close").addEventListener("click", closeDetail);
    window.EI.bindTokenInput($("token"));
    try {
      $("label-author").value = localStorage.getItem(AUTHOR_KEY) || "";
      $("label-author").addEventListener("change", () => localStorage.setItem(AUTHOR_KEY, $("label-author").value.trim()));
    } catch (_e) {
      /* storage disabled: the name only lives in the input */
    }
    $("label-submit").addEventListener("click", submitLabel);
    $("detail").addEventListener("click", (ev) => {
      if (ev.target === $("detail")) closeDetail(); // tap outside the box
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && openSeq !== null) closeDetail();
    });
    window.addEventListener("hashchange", openFromHash);
    window.EI.loadStation();
    window.EI.poll(refresh, 2000);
  });
})();
