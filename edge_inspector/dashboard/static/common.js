// edge-inspector dashboard: helpers shared by every page (fetch, token, nav, errors, formatting).
// Plain ES2020, no build step. Everything lives on window.EI.
"use strict";

(() => {
  const TOKEN_KEY = "edge-inspector-token";
  const VERDICTS = ["PASS", "FAIL", "FAULT"];

  /** An API error: message is the server's {"error": "..."} text when it sent one. */
  class ApiError extends Error {
    constructor(message, status, data) {
      super(message);
      this.name = "ApiError";
      this.status = status; // 0 when the server could not be reached
      this.data = data; // the parsed JSON body, or null
    }
  }

  // ---------------------------------------------------------------- token

  function getToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || "";
    } catch (_e) {
      return "";
    }
  }

  function setToken(value) {
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch (_e) {
      /* storage disabled: the token only lives in the input */
    }
  }

  /** Prefill a password input from sessionStorage and save it back on every change. */
  function bindTokenInput(input) {
    if (!input) return;
    input.value = getToken();
    const save = () => setToken(input.value.trim());
    input.addEventListener("input", save);
    input.addEventListener("change", save);
  }

  function authHeaders() {
    const input = document.getElementById("token");
    const token = input ? input.value.trim() : getToken();
    return token ? { Authorization: "Bearer " + token } : {};
  }

  // ---------------------------------------------------------------- login

  // Beyond loopback (or behind a TLS proxy) reads need the token too: on a GET answered 401 the page asks
  // for the token once, POSTs /api/login with it (the answer sets an HttpOnly session cookie, which the
  // <img> requests then carry) and keeps it in sessionStorage like the token fields do.
  let loginPromise = null;

  function login() {
    if (!loginPromise) {
      loginPromise = (async () => {
        let token = getToken();
        if (!token) {
          token = (window.prompt("This dashboard needs its token (dashboard.token_file on the line device):") || "").trim();
        }
        if (!token) throw new ApiError("not logged in: this dashboard needs its token", 401, null);
        const resp = await fetch("/api/login", {
          method: "POST", headers: { Authorization: "Bearer " + token }, cache: "no-store",
        });
        if (!resp.ok) {
          setToken("");
          throw new ApiError(`login refused (HTTP ${resp.status}): check the token`, resp.status, null);
        }
        setToken(token);
      })().finally(() => {
        loginPromise = null;
      });
    }
    return loginPromise;
  }

  // ---------------------------------------------------------------- fetch

  /**
   * fetch() a JSON endpoint. Resolves to the parsed body on 2xx; rejects with ApiError otherwise
   * (message = the server's "error" text, or a plain description when there was none).
   * opts: method, json (a body to send as JSON), body (FormData etc.), auth (send the bearer token),
   * timeoutMs.
   */
  async function api(path, opts = {}) {
    const { method = "GET", json, body, auth = false, timeoutMs = 15000, retried = false } = opts;
    const headers = auth ? authHeaders() : {};
    if (!auth && getToken()) headers.Authorization = "Bearer " + getToken();
    let payload = body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(json);
    }
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), timeoutMs);
    let resp;
    let text;
    try {
      resp = await fetch(path, { method, headers, body: payload, cache: "no-store", signal: ctrl.signal });
      text = await resp.text();
    } catch (e) {
      const why = e && e.name === "AbortError" ? "timed out" : "failed";
      throw new ApiError(`cannot reach the dashboard server (${method} ${path} ${why})`, 0, null);
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_e) {
      data = null;
    }
    if (resp.status === 401 && method === "GET" && !retried) {
      await login();
      return api(path, { ...opts, retried: true });
    }
    if (!resp.ok) {
      const msg =
        data && typeof data.error === "string" && data.error
          ? data.error
          : `HTTP ${resp.status}${resp.statusText ? " " + resp.statusText : ""} from ${path}`;
      throw new ApiError(msg, resp.status, data);
    }
    if (data === null) {
      throw new ApiError(`the server sent something that is not JSON (${path})`, resp.status, null);
    }
    return data;
  }

  function errorText(e) {
    if (e instanceof ApiError) return e.message;
    return (e && e.message) || String(e);
  }

  // ---------------------------------------------------------------- #error

  // Several sources (state poll, what-if, ...) can fail at once; each owns a key, so one
  // source recovering does not wipe another one's message. #error is empty when all is fine.
  const errors = new Map();

  function renderErrors() {
    const el = document.getElementById("error");
    if (!el) return;
    const lines = Array.from(errors.values()).map((msg) => {
      const div = document.createElement("div");
      div.textContent = msg;
      return div;
    });
    el.replaceChildren(...lines);
  }

  function setError(key, message) {
    if (errors.get(key) === message) return;
    errors.set(key, message);
    renderErrors();
  }

  function clearError(key) {
    if (!errors.has(key)) return;
    errors.delete(key);
    renderErrors();
  }

  // ---------------------------------------------------------------- polling

  /** Run fn now and then every intervalMs after it finishes; errors never stop the loop. */
  function poll(fn, intervalMs) {
    let timer = null;
    const tick = async () => {
      try {
        await fn();
      } catch (e) {
        console.error(e);
      }
      timer = setTimeout(tick, intervalMs);
    };
    tick();
    return () => clearTimeout(timer);
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  // ---------------------------------------------------------------- formatting

  const isNum = (x) => typeof x === "number" && Number.isFinite(x);

  /** 4 significant digits (0.52 -> "0.5200"); "—" for null. */
  function sig(x, digits = 4) {
    if (!isNum(x)) return "—";
    if (x === 0) return "0";
    const abs = Math.abs(x);
    if (abs >= 1e-4 && abs < 1e6) return x.toPrecision(digits);
    return x.toExponential(digits - 1);
  }

  /** 0.1667 -> "16.7%" */
  function percent(rate) {
    return isNum(rate) ? (rate * 100).toFixed(1) + "%" : "—";
  }

  const pad2 = (n) => String(n).padStart(2, "0");

  /** A Date as local "YYYY-MM-DD HH:MM:SS". */
  function localTime(d) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) return "—";
    return (
      `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
    );
  }

  /** Unix seconds (decided_at) -> local time text. */
  function epochTime(seconds) {
    return isNum(seconds) ? localTime(new Date(seconds * 1000)) : "—";
  }

  /** An ISO 8601 string (created_at) -> local time text; the raw text when it does not parse. */
  function isoTime(text) {
    if (typeof text !== "string" || !text) return "—";
    const d = new Date(text);
    return Number.isNaN(d.getTime()) ? text : localTime(d);
  }

  /** Set the text and verdict-PASS/FAIL/FAULT class of an element ("—" for anything else). */
  function setVerdict(el, verdict) {
    if (!el) return;
    el.classList.remove(...VERDICTS.map((v) => "verdict-" + v));
    if (VERDICTS.includes(verdict)) {
      el.textContent = verdict;
      el.classList.add("verdict-" + verdict);
    } else {
      el.textContent = "—";
    }
  }

  function profileText(profile) {
    if (!profile) return "no profile";
    return `${profile.product}/${profile.station} r${profile.revision}`;
  }

  /** Random hex for command ids (crypto.getRandomValues works without HTTPS, randomUUID does not). */
  function randomHex(bytes = 8) {
    const buf = new Uint8Array(bytes);
    crypto.getRandomValues(buf);
    return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Make a table cell / element with text. */
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  // ---------------------------------------------------------------- header

  let stationKnown = false;

  function setStation(id) {
    const node = document.getElementById("station");
    if (!node || typeof id !== "string" || !id) return;
    stationKnown = true;
    if (node.textContent !== id) node.textContent = id;
  }

  /** Pages that do not poll /api/state call this once to fill the station id in the header. */
  async function loadStation() {
    if (stationKnown) return;
    try {
      const state = await api("/api/state");
      setStation(state.station_id);
      clearError("station");
    } catch (e) {
      setError("station", errorText(e));
    }
  }

  function markNav() {
    const path = location.pathname.replace(/\/index\.html$/, "/").replace(/\.html$/, "");
    for (const a of document.querySelectorAll("nav.nav a")) {
      const href = a.getAttribute("href");
      if (href === path || (href !== "/" && path.startsWith(href))) {
        a.classList.add("active");
        a.setAttribute("aria-current", "page");
      }
    }
  }

  document.addEventListener("DOMContentLoaded", markNav);

  window.EI = {
    TOKEN_KEY,
    VERDICTS,
    ApiError,
    api,
    errorText,
    getToken,
    setToken,
    bindTokenInput,
    authHeaders,
    login,
    setError,
    clearError,
    poll,
    debounce,
    isNum,
    sig,
    percent,
    localTime,
    epochTime,
    isoTime,
    setVerdict,
    profileText,
    randomHex,
    el,
    setStation,
    loadStation,
  };
})();
