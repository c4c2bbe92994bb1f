// Live page: polls /api/state every second; refreshes the frame only when latest.seq changes.
"use strict";

(() => {
  const { api, errorText, setError, clearError, sig, percent, setVerdict, profileText, isNum } = window.EI;
  const $ = (id) => document.getElementById(id);

  const COLORS = { PASS: "#17803d", FAIL: "#d1242f", FAULT: "#e8730c" };
  let lastState = null;

  // ------------------------------------------------------------------ frame

  let frameSeq = null; // seq whose frame was last requested
  let frameFailures = 0; // failed loads for frameSeq (a 503 right after a verdict is retried)
  let frameShown = false;

  function showPlaceholder(text) {
    const ph = $("frame-placeholder");
    ph.textContent = text;
    ph.hidden = false;
    $("frame").hidden = true;
  }

  function loadFrame(seq) {
    $("frame").src = `/api/frame.jpg?seq=${encodeURIComponent(seq)}`;
  }

  function updateFrame(latest) {
    if (!latest) {
      if (!frameShown) showPlaceholder("waiting for the first frame…");
      return;
    }
    if (latest.seq !== frameSeq) {
      frameSeq = latest.seq;
      frameFailures = 0;
      loadFrame(frameSeq);
    } else if (frameFailures > 0 && frameFailures < 3) {
      loadFrame(frameSeq); // retry a failed (e.g. 503) frame a couple of times
    }
  }

  function initFrame() {
    const img = $("frame");
    img.addEventListener("load", () => {
      frameShown = true;
      frameFailures = 0;
      img.hidden = false;
      $("frame-placeholder").hidden = true;
    });
    img.addEventListener("error", () => {
      frameFailures += 1;
      frameShown = false;
      showPlaceholder("no frame available yet");
    });
  }

  // ------------------------------------------------------------------ trend

  function drawTrend(trend, threshold) {
    const canvas = $("trend");
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600;
    const h = canvas.clientHeight || 200;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    const points = (Array.isArray(trend) ? trend : []).filter((p) => p && isNum(p.score));
    const left = 52;
    const right = 10;
    const top = 10;
    const bottom = 22;
    const pw = Math.max(10, w - left - right);
    const ph = Math.max(10, h - top - bottom);

    const scores = points.map((p) => p.score);
    let ymax = Math.max(...scores, isNum(threshold) ? threshold : 0);
    let ymin = Math.min(0, ...scores);
    if (!(ymax > ymin)) ymax = ymin + 1;
    ymax += (ymax - ymin) * 0.1;
    const y = (v) => top + ph - ((v - ymin) / (ymax - ymin)) * ph;
    const x = (i) => left + (points.length > 1 ? (i / (points.length - 1)) * pw : pw / 2);

    // grid and y labels
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillStyle = "#5b6470";
    ctx.strokeStyle = "#e3e6ea";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let k = 0; k <= 4; k++) {
      const v = ymin + ((ymax - ymin) * k) / 4;
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, yy);
      ctx.lineTo(left + pw, yy);
      ctx.stroke();
      ctx.fillText(sig(v, 3), left - 6, yy);
    }

    if (points.length === 0) {
      ctx.textAlign = "center";
      ctx.fillStyle = "#5b6470";
      ctx.font = "16px system-ui, sans-serif";
      ctx.fillText("no scores yet", left + pw / 2, top + ph / 2);
    } else {
      // x labels: first and last seq
      ctx.textBaseline = "top";
      ctx.textAlign = "left";
      ctx.fillText(`#${points[0].seq}`, left, top + ph + 6);
      ctx.textAlign = "right";
      ctx.fillText(`#${points[points.length - 1].seq}`, left + pw, top + ph + 6);

      // connecting line
      ctx.strokeStyle = "#9aa3ad";
      ctx.lineWidth = 1;
      ctx.beginPath();
      points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(i), y(p.score)) : ctx.lineTo(x(i), y(p.score))));
      ctx.stroke();

      // points coloured by verdict
      const r = points.length > 150 ? 2.5 : 3.5;
      points.forEach((p, i) => {
        ctx.fillStyle = COLORS[p.verdict] || "#5b6470";
        ctx.beginPath();
        ctx.arc(x(i), y(p.score), p.verdict === "PASS" ? r : r + 1, 0, Math.PI * 2);
        ctx.fill();
      });
    }

    // threshold line
    if (isNum(threshold)) {
      const ty = Math.round(y(threshold)) + 0.5;
      ctx.save();
      ctx.strokeStyle = "#1f2328";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(left, ty);
      ctx.lineTo(left + pw, ty);
      ctx.stroke();
      ctx.restore();
      ctx.fillStyle = "#1f2328";
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      ctx.font = "bold 12px system-ui, sans-serif";
      ctx.fillText(`threshold ${sig(threshold)}`, left + 4, ty - 3);
    }
  }

  // ------------------------------------------------------------------ state

  function setText(id, text) {
    const node = $(id);
    if (node && node.textContent !== text) node.textContent = text;
  }

  function render(state) {
    window.EI.setStation(state.station_id);
    const latest = state.latest || null;
    setVerdict($("verdict"), latest ? latest.verdict : null);
    setText("score", latest ? sig(latest.score) : "—");
    setText("seq", latest && latest.seq !== undefined && latest.seq !== null ? String(latest.seq) : "—");
    setText("reason", latest && latest.reason ? latest.reason : "");

    const counts = state.counts || {};
    for (const key of ["PASS", "FAIL", "FAULT", "total"]) {
      setText("count-" + key, isNum(counts[key]) ? String(counts[key]) : "—");
    }
    const rates = state.rates || {};
    setText("rate-fail", percent(rates.fail));
    setText("rate-fault", percent(rates.fault));

    const health = state.health || {};
    for (const key of ["camera", "model", "broker"]) {
      const node = $("health-" + key);
      const item = health[key];
      node.textContent = item && item.detail ? String(item.detail) : item ? (item.ok ? "ok" : "not ok") : "unknown";
      node.classList.toggle("ok", !!(item && item.ok));
      node.classList.toggle("bad", !(item && item.ok));
    }

    const settings = state.settings || {};
    setText("profile", profileText(settings.profile));
    setText("threshold-now", sig(settings.image_threshold));

    updateFrame(latest);
    drawTrend(state.trend, settings.image_threshold);
  }

  async function refresh() {
    try {
      const state = await api("/api/state");
      lastState = state;
      clearError("state");
      render(state);
    } catch (e) {
      setError("state", errorText(e));
    }
  }

  // ------------------------------------------------------------------ CSV export

  /** A datetime-local value (local time) -> ISO 8601 UTC with Z; null when empty or invalid. */
  function localToIso(value) {
    if (!value) return null;
    const d = new Date(value); // "YYYY-MM-DDTHH:MM[:SS]" without offset is local time
    return Number.isNaN(d.getTime()) ? null : d.toISOString();
  }

  function updateCsvLink() {
    const params = [];
    const from = localToIso($("csv-from").value);
    const to = localToIso($("csv-to").value);
    if (from) params.push("from=" + from); // ISO text is query-safe as is
    if (to) params.push("to=" + to);
    $("csv-export").href = "/api/verdicts.csv" + (params.length ? "?" + params.join("&") : "");
  }

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", () => {
    initFrame();
    for (const id of ["csv-from", "csv-to"]) {
      $(id).addEventListener("input", updateCsvLink);
      $(id).addEventListener("change", updateCsvLink);
    }
    updateCsvLink();
    window.addEventListener("resize", () => {
      if (lastState) drawTrend(lastState.trend, (lastState.settings || {}).image_threshold);
    });
    window.EI.poll(refresh, 1000);
  });
})();
