// Threshold page: sliders -> debounced what-if replay; apply (set) and rollback via POST /api/command.
"use strict";

(() => {
  const { api, errorText, setError, clearError, sig, isNum, isoTime, profileText, randomHex, el } = window.EI;
  const $ = (id) => document.getElementById(id);

  const KEYS = ["image_threshold", "pixel_threshold", "min_area", "min_peak"];
  const SLIDERS = [
    { key: "image_threshold", range: "image-threshold", number: "image-threshold-value", label: "image threshold" },
    { key: "pixel_threshold", range: "pixel-threshold", number: "pixel-threshold-value", label: "pixel threshold" },
  ];

  let inForce = null; // settings in force (from /api/state)
  let inputsReady = false; // the inputs were filled from the settings in force
  let seenRevision; // profile revision the history table was loaded for
  let currentRevision = null; // /api/history "revision"
  let whatIfCounter = 0; // only the newest what-if answer is shown
  let busy = false;

  // ------------------------------------------------------------------ inputs

  const tidy = (v) => Number(Number(v).toPrecision(6)); // slider steps -> readable numbers

  function fillInputs(settings, trend) {
    const scores = (Array.isArray(trend) ? trend : []).map((p) => p && p.score).filter(isNum);
    const highest = scores.length ? Math.max(...scores) : 0;
    for (const s of SLIDERS) {
      const current = isNum(settings[s.key]) ? settings[s.key] : 0;
      let max = Math.max(2 * current, 1.2 * highest);
      if (!(max > 0)) max = 1;
      const range = $(s.range);
      range.min = "0";
      range.max = String(max);
      range.step = String(max / 1000);
      range.value = String(current);
      $(s.number).value = String(current);
    }
    $("min-area").value = isNum(settings.min_area) ? String(settings.min_area) : "0";
    $("min-peak").value = isNum(settings.min_peak) ? String(settings.min_peak) : "0";
    inputsReady = true;
  }

  /** The proposed numbers, or {error} naming the first bad input. */
  function readInputs() {
    const out = {};
    for (const s of SLIDERS) {
      const raw = $(s.number).value.trim();
      const v = Number(raw);
      if (raw === "" || !Number.isFinite(v)) return { error: `enter a number for the ${s.label}` };
      out[s.key] = v;
    }
    const areaRaw = $("min-area").value.trim();
    const area = Number(areaRaw);
    if (areaRaw === "" || !Number.isInteger(area) || area < 0) return { error: "min area must be a whole number ≥ 0" };
    out.min_area = area;
    const peakRaw = $("min-peak").value.trim();
    const peak = Number(peakRaw);
    if (peakRaw === "" || !Number.isFinite(peak) || peak < 0) return { error: "min peak must be a number ≥ 0" };
    out.min_peak = peak;
    return { values: out };
  }

  function differs(a, b) {
    if (!isNum(b)) return true;
    return Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(b));
  }

  function changedKeys(values) {
    const set = {};
    for (const key of KEYS) if (differs(values[key], inForce ? inForce[key] : undefined)) set[key] = values[key];
    return set;
  }

  function bindInputs() {
    for (const s of SLIDERS) {
      const range = $(s.range);
      const number = $(s.number);
      range.addEventListener("input", () => {
        number.value = String(tidy(range.value));
        scheduleWhatIf();
      });
      number.addEventListener("input", () => {
        const v = Number(number.value);
        if (number.value.trim() !== "" && Number.isFinite(v)) {
          if (v > Number(range.max)) range.max = String(v); // let the slider follow a typed value
          range.value = String(v);
        }
        scheduleWhatIf();
      });
    }
    for (const id of ["min-area", "min-peak"]) $(id).addEventListener("input", scheduleWhatIf);
    $("reset").addEventListener("click", async () => {
      await reloadState();
      runWhatIf();
    });
  }

  // ------------------------------------------------------------------ state

  function showCurrent(settings) {
    const parts = [
      `image threshold ${sig(settings.image_threshold)}`,
      `pixel threshold ${sig(settings.pixel_threshold)}`,
      `min area ${isNum(settings.min_area) ? settings.min_area : "—"}`,
      `min peak ${sig(settings.min_peak)}`,
    ];
    if (Array.isArray(settings.roi)) parts.push(`roi ${settings.roi.join(",")}`);
    const p = settings.profile;
    parts.push(p ? `profile ${p.product}/${p.station} revision ${p.revision}` : "no profile");
    $("current-settings").textContent = "In force: " + parts.join(" · ");
    $("current-settings").title = profileText(p);
  }

  /** Fetch /api/state; resetInputs puts the sliders back to the numbers in force. */
  async function reloadState(resetInputs = true) {
    try {
      const state = await api("/api/state");
      clearError("state");
      window.EI.setStation(state.station_id);
      const settings = state.settings || {};
      inForce = settings;
      showCurrent(settings);
      if (resetInputs || !inputsReady) fillInputs(settings, state.trend);
      const revision = settings.profile ? settings.profile.revision : null;
      if (revision !== seenRevision) {
        seenRevision = revision;
        loadHistory(); // someone changed the profile (here or over MQTT)
      }
      return true;
    } catch (e) {
      setError("state", errorText(e));
      return false;
    }
  }

  // ------------------------------------------------------------------ what-if

  const scheduleWhatIf = window.EI.debounce(runWhatIf, 150);

  function clearWhatIf(note) {
    for (const id of ["whatif-replayed", "whatif-pass-to-fail", "whatif-fail-to-pass"]) $(id).textContent = "—";
    $("whatif-flipped").tBodies[0].replaceChildren();
    $("whatif-summary").textContent = note || "";
  }

  async function runWhatIf() {
    if (!inputsReady) return;
    const read = readInputs();
    const n = ++whatIfCounter;
    if (read.error) {
      clearWhatIf(read.error);
      return;
    }
    const v = read.values;
    const query = KEYS.map((k) => `${k}=${encodeURIComponent(String(v[k]))}`).join("&");
    try {
      const data = await api("/api/what-if?" + query);
      if (n !== whatIfCounter) return; // a newer request is on its way
      clearError("whatif");
      renderWhatIf(data);
    } catch (e) {
      if (n !== whatIfCounter) return;
      setError("whatif", errorText(e));
      clearWhatIf("no replay: " + errorText(e));
    }
  }

  const intText = (x) => (isNum(x) ? String(Math.round(x)) : "0");

  function renderWhatIf(data) {
    $("whatif-replayed").textContent = intText(data.replayed);
    $("whatif-pass-to-fail").textContent = intText(data.pass_to_fail);
    $("whatif-fail-to-pass").textContent = intText(data.fail_to_pass);
    const now = data.now || {};
    const after = data.after || {};
    $("whatif-summary").textContent =
      `now ${intText(now.PASS)} PASS / ${intText(now.FAIL)} FAIL → ` +
      `after ${intText(after.PASS)} PASS / ${intText(after.FAIL)} FAIL`;
    const rows = (Array.isArray(data.flipped) ? data.flipped : []).map((f) => {
      const tr = document.createElement("tr");
      tr.dataset.seq = String(f.seq);
      const change = el("td", null, "flip");
      change.append(
        el("span", f.before, "verdict-text verdict-" + f.before),
        document.createTextNode(" → "),
        el("span", f.after, "verdict-text verdict-" + f.after),
      );
      tr.append(el("td", f.seq), el("td", f.name || ""), el("td", sig(f.score)), change);
      return tr;
    });
    $("whatif-flipped").tBodies[0].replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ commands

  function showResult(kind, text) {
    const node = $("apply-result");
    node.className = "result " + kind;
    node.textContent = text;
  }

  function setBusy(on) {
    busy = on;
    $("apply").disabled = on;
    for (const b of document.querySelectorAll("#history button.rollback")) b.disabled = on;
  }

  function authorReason() {
    const author = $("author").value.trim();
    const reason = $("reason").value.trim();
    return author && reason ? { author, reason } : null;
  }

  /** POST a command; on success reload state, sliders, history and the replay. */
  async function sendCommand(body, what, done) {
    setBusy(true);
    showResult("pending", `${what}: sending…`);
    try {
      const resp = await api("/api/command", { method: "POST", json: body, auth: true });
      if (resp.ok === false) throw new window.EI.ApiError(resp.error || "refused", 200, resp);
      const revision = resp.profile && isNum(resp.profile.revision) ? resp.profile.revision : null;
      let text = revision !== null ? `${done}: now revision ${revision}` : `${done} (no profile)`;
      if (Array.isArray(resp.warnings) && resp.warnings.length) text += " — warnings: " + resp.warnings.join("; ");
      showResult("ok", text);
      await reloadState(true);
      await loadHistory();
      runWhatIf();
    } catch (e) {
      showResult("error", `${what} failed: ${errorText(e)}`);
    } finally {
      setBusy(false);
    }
  }

  function apply() {
    if (busy) return;
    if (!inForce) {
      showResult("error", "the settings in force are not loaded yet; nothing was sent");
      return;
    }
    const read = readInputs();
    if (read.error) {
      showResult("error", read.error + "; nothing was sent");
      return;
    }
    const set = changedKeys(read.values);
    if (Object.keys(set).length === 0) {
      showResult("error", "nothing changed: these are the settings in force; nothing was sent");
      return;
    }
    const who = authorReason();
    if (!who) {
      showResult("error", "enter an author and a reason first; nothing was sent");
      return;
    }
    sendCommand(
      { id: "web-" + randomHex(), action: "set", author: who.author, reason: who.reason, set },
      "apply",
      "applied " + Object.keys(set).join(", "),
    );
  }

  function rollback(revision) {
    if (busy) return;
    const who = authorReason();
    if (!who) {
      showResult("error", `enter an author and a reason to roll back to revision ${revision}; nothing was sent`);
      return;
    }
    sendCommand(
      { id: "web-" + randomHex(), action: "rollback", revision, author: who.author, reason: who.reason },
      `rollback to revision ${revision}`,
      `rolled back to the values of revision ${revision}`,
    );
  }

  // ------------------------------------------------------------------ history

  async function loadHistory() {
    const errNode = $("history-error");
    const tbody = $("history").tBodies[0];
    try {
      const data = await api("/api/history");
      clearError("history");
      errNode.textContent = "";
      currentRevision = isNum(data.revision) ? data.revision : null;
      const rows = (Array.isArray(data.history) ? data.history : []).map((h) => {
        const tr = document.createElement("tr");
        tr.dataset.revision = String(h.revision);
        const isCurrent = h.revision === currentRevision;
        if (isCurrent) tr.classList.add("current");
        const action = el("td");
        if (isCurrent) {
          action.append(el("span", "in force", "tag"));
        } else {
          const btn = el("button", "Roll back", "button rollback");
          btn.type = "button";
          btn.disabled = busy;
          btn.addEventListener("click", () => rollback(h.revision));
          action.append(btn);
        }
        tr.append(
          el("td", h.revision),
          el("td", isoTime(h.created_at)),
          el("td", h.author || ""),
          el("td", h.reason || ""),
          el("td", sig(h.image_threshold)),
          el("td", sig(h.pixel_threshold)),
          action,
        );
        return tr;
      });
      tbody.replaceChildren(...rows.reverse()); // newest on top
    } catch (e) {
      tbody.replaceChildren();
      errNode.textContent = errorText(e);
      if (e instanceof window.EI.ApiError && e.status === 409) clearError("history");
      else setError("history", errorText(e));
    }
  }

  // ------------------------------------------------------------------ start

  document.addEventListener("DOMContentLoaded", async () => {
    window.EI.bindTokenInput($("token"));
    bindInputs();
    $("apply").addEventListener("click", apply);
    // first load: retry until the state arrives, then keep the "in force" line fresh
    const first = async () => {
      if (!inputsReady) {
        if (await reloadState(true)) runWhatIf();
      } else {
        await reloadState(false);
      }
    };
    window.EI.poll(first, 3000);
  });
})();
