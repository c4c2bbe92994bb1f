// Inspect page: upload one PNG/JPEG to POST /api/inspect and show the verdict and its images.
"use strict";

(() => {
  const { api, errorText, sig, setVerdict } = window.EI;
  const $ = (id) => document.getElementById(id);
  const IMAGES = ["original", "heatmap", "annotated", "reconstruction"];
  let busy = false;

  function setImage(name, url) {
    const img = $("inspect-" + name);
    const ok = typeof url === "string" && url.length > 0;
    if (ok) img.src = url;
    else img.removeAttribute("src");
    img.hidden = !ok;
    if (name === "reconstruction") $("inspect-reconstruction-figure").hidden = !ok;
  }

  function clearResult() {
    $("inspect-result").hidden = true;
    setVerdict($("inspect-verdict"), null);
    for (const id of ["inspect-score", "inspect-threshold", "inspect-size"]) $(id).textContent = "—";
    $("inspect-reason").textContent = "";
    $("inspect-note").textContent = "";
    for (const name of IMAGES) setImage(name, null);
  }

  function showError(text) {
    const node = $("inspect-error");
    node.textContent = text;
    node.classList.toggle("visible", !!text);
  }

  function showResult(r) {
    setVerdict($("inspect-verdict"), r.verdict);
    $("inspect-score").textContent = sig(r.score);
    $("inspect-threshold").textContent = sig(r.threshold);
    $("inspect-size").textContent = r.width && r.height ? `${r.width} × ${r.height}` : "—";
    $("inspect-reason").textContent = r.reason || "";
    $("inspect-note").textContent = r.note || "";
    $("inspect-heatmap-caption").textContent = r.map_name || "heatmap";  // Grad-CAM for a classifier
    const images = r.images || {};
    for (const name of IMAGES) setImage(name, images[name]);
    $("inspect-result").hidden = false;
  }

  async function submit() {
    if (busy) return;
    const file = $("upload").files && $("upload").files[0];
    clearResult();
    showError("");
    if (!file) {
      showError("choose a PNG or JPEG image first");
      return;
    }
    busy = true;
    $("inspect-submit").disabled = true;
    $("inspect-status").textContent = `inspecting ${file.name}…`;
    try {
      const form = new FormData();
      form.append("image", file, file.name);
      const result = await api("/api/inspect", { method: "POST", body: form, auth: true, timeoutMs: 60000 });
      window.EI.clearError("inspect");
      showResult(result);
      $("inspect-status").textContent = `${file.name}: done`;
    } catch (e) {
      clearResult();
      showError(errorText(e));
      $("inspect-status").textContent = "";
    } finally {
      busy = false;
      $("inspect-submit").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    window.EI.bindTokenInput($("token"));
    clearResult();
    $("inspect-submit").addEventListener("click", submit);
    $("upload").addEventListener("change", () => showError(""));
    window.EI.loadStation();
  });
})();
