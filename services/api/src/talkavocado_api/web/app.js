// The review app: sign in, the tenant's jobs with live progress, upload, and a job's page to
// review the cut on its transcript, adjust it, preview, render a revision and download.
// Plain ES modules served by the API itself; nothing loads from elsewhere.

import { Api, ApiError } from "./api.js";
import { jobPage } from "./job.js";
import { el, banner, progressBar, statusBadge } from "./dom.js";

const KEY_STORAGE = "talkavocado.key";
const main = document.getElementById("main");
const account = document.getElementById("account");
let api = null;
let leaving = []; // what the current page stops when another one is shown

// ---- sign-in -------------------------------------------------------------------------------

// A sign-in link carries the key in the URL fragment (never sent to a server nor logged):
// #key=...; it is moved to session storage and removed from the address bar at once.
function keyFromFragment() {
  const params = new URLSearchParams(window.location.hash.replace(/^#\/?/, ""));
  const key = params.get("key");
  if (!key) return null;
  const job = params.get("job");
  history.replaceState(null, "", job ? `#/jobs/${encodeURIComponent(job)}` : "#/");
  return key;
}

async function signIn(key) {
  const candidate = new Api(key);
  const session = await candidate.session();
  candidate.tenantId = session.tenantId;
  sessionStorage.setItem(KEY_STORAGE, key);
  api = candidate;
  account.replaceChildren(
    el("span", { class: "tenant" }, `Tenant ${session.tenantId}`),
    el("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
  );
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  api = null;
  account.replaceChildren();
  window.location.hash = "#/";
  route();
}

function signInPage(message = null) {
  const input = el("input", {
    id: "api-key",
    type: "password",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
  });
  const error = el("p", { class: "error", role: "alert" }, message || "");
  const form = el(
    "form",
    { class: "card narrow", "aria-labelledby": "sign-in-title" },
    el("h1", { id: "sign-in-title" }, "Sign in"),
    el("p", {}, "Use the API key of your tenant. It stays in this tab only."),
    el("label", { for: "api-key" }, "API key"),
    input,
    error,
    el("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await signIn(input.value.trim());
      route();
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
    }
  });
  show(form);
  input.focus();
}

// ---- pages ---------------------------------------------------------------------------------

function show(...nodes) {
  for (const stop of leaving) stop();
  leaving = [];
  main.replaceChildren(...nodes);
}

function onLeave(stop) {
  leaving.push(stop);
}

function optionsForm() {
  const field = (id, label, input, hint = null) =>
    el("div", { class: "field" }, el("label", { for: id }, label), input, hint ? el("small", {}, hint) : null);
  const check = (id, label, checked) =>
    el("div", { class: "field check" }, el("input", { id, type: "checkbox", checked }), el("label", { for: id }, label));
  return el(
    "fieldset",
    { class: "options" },
    el("legend", {}, "Options"),
    field("opt-pause", "Pause target (ms)", el("input", { id: "opt-pause", type: "number", min: 0, max: 5000, step: 50, value: 400 }), "Long pauses are shortened to this."),
    check("opt-fillers", "Remove filler words (um, uh…)", true),
    check("opt-crossfades", "Crossfades at cuts", false),
    check("opt-burn", "Burn subtitles into the video", false),
    field("opt-loudness", "Loudness target (LUFS)", el("input", { id: "opt-loudness", type: "number", min: -40, max: -5, step: 0.5, value: -16 }), "Empty: leave the level alone."),
    field("opt-logo", "Logo asset", el("input", { id: "opt-logo", type: "text", placeholder: "logo.png" })),
    field("opt-intro", "Intro asset", el("input", { id: "opt-intro", type: "text", placeholder: "intro.mp4" })),
    field("opt-outro", "Outro asset", el("input", { id: "opt-outro", type: "text", placeholder: "outro.mp4" })),
  );
}

function readOptions(form) {
  const value = (id) => form.querySelector(`#${id}`).value.trim();
  const checked = (id) => form.querySelector(`#${id}`).checked;
  const options = {
    planner: { targetPauseMs: Number(value("opt-pause") || 400), removeFillers: checked("opt-fillers") },
    transitions: { enabled: checked("opt-crossfades") },
    subtitles: { burnIn: checked("opt-burn") },
    audio: { loudness: value("opt-loudness") === "" ? "off" : Number(value("opt-loudness")) },
    branding: {},
  };
  const logo = value("opt-logo");
  if (logo) options.branding.logo = { asset: logo };
  if (value("opt-intro")) options.branding.intro = value("opt-intro");
  if (value("opt-outro")) options.branding.outro = value("opt-outro");
  return options;
}

function uploadCard(onUploaded) {
  const fileInput = el("input", { id: "upload-file", type: "file", accept: "video/*,audio/*", class: "visually-hidden" });
  const chosen = el("p", { class: "chosen" }, "No file chosen.");
  const bar = progressBar(0, "Upload progress");
  bar.hidden = true;
  const message = el("p", { role: "status", "aria-live": "polite" });
  const options = optionsForm();
  const submit = el("button", { type: "submit", class: "primary", disabled: true }, "Upload and edit");
  const drop = el(
    "div",
    { class: "drop", tabindex: "0", role: "button", "aria-describedby": "drop-help" },
    el("strong", {}, "Drop a recording here"),
    el("span", { id: "drop-help" }, " or press Enter to choose a file"),
  );
  let file = null;
  const choose = (picked) => {
    file = picked;
    chosen.textContent = picked ? `${picked.name} (${(picked.size / 1e6).toFixed(1)} MB)` : "No file chosen.";
    submit.disabled = !picked;
  };
  drop.addEventListener("click", () => fileInput.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      fileInput.click();
    }
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files[0] || null);
  });
  fileInput.addEventListener("change", () => choose(fileInput.files[0] || null));
  const form = el(
    "form",
    { class: "card upload", "aria-labelledby": "upload-title" },
    el("h2", { id: "upload-title" }, "New edit"),
    el("label", { for: "upload-file", class: "visually-hidden" }, "Recording"),
    fileInput,
    drop,
    chosen,
    options,
    submit,
    bar,
    message,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file) return;
    submit.disabled = true;
    message.textContent = "Creating the job…";
    message.className = "";
    try {
      const created = await api.createJob(file, readOptions(form));
      bar.hidden = false;
      message.textContent = "Uploading…";
      await api.upload(created.uploadUrl, file, (share) => bar.set(share));
      message.textContent = "Uploaded.";
      onUploaded(created.jobId);
    } catch (failure) {
      message.className = "error";
      message.textContent = failure instanceof ApiError ? failure.message : String(failure);
      submit.disabled = false;
    }
  });
  return form;
}

async function jobsPage() {
  const list = el("ul", { class: "jobs", "aria-label": "Jobs" });
  const status = el("div", { role: "status", "aria-live": "polite" });
  show(
    el("h1", { class: "visually-hidden" }, "Jobs"),
    el(
      "div",
      { class: "columns" },
      uploadCard((jobId) => (window.location.hash = `#/jobs/${encodeURIComponent(jobId)}`)),
      el("section", { class: "card", "aria-labelledby": "jobs-title" }, el("h2", { id: "jobs-title" }, "Jobs"), status, list),
    ),
  );
  const streams = new AbortController();
  onLeave(() => streams.abort());
  let page;
  try {
    page = await api.jobs();
  } catch (failure) {
    status.replaceChildren(banner(failure.message, "error"));
    return;
  }
  if (page.jobs.length === 0) status.replaceChildren(el("p", {}, "No jobs yet: upload a recording."));
  for (const job of page.jobs) list.append(jobRow(job, streams.signal));
}

function jobRow(job, signal) {
  const bar = progressBar(job.status === "completed" ? 1 : 0, `Progress of ${job.originalFilename || job.jobId}`);
  bar.hidden = job.status !== "processing" && job.status !== "pending";
  let badge = statusBadge(job.status);
  const row = el(
    "li",
    {},
    el("a", { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, job.originalFilename || job.jobId),
    badge,
    el("time", { datetime: job.createdAt }, new Date(job.createdAt).toLocaleString()),
    bar,
  );
  if (job.status === "processing" || job.status === "pending") {
    api
      .events(
        job.jobId,
        (event) => {
          const data = event.data || {};
          if (data.status) {
            const next = statusBadge(data.status);
            badge.replaceWith(next);
            badge = next;
          }
          if (typeof data.progress === "number") bar.set(data.progress);
          bar.hidden = data.status !== "processing";
        },
        signal,
      )
      .catch(() => {});
  }
  return row;
}

// ---- routing -------------------------------------------------------------------------------

async function route() {
  if (!api) {
    signInPage();
    return;
  }
  const match = window.location.hash.match(/^#\/jobs\/([^/?#]+)/);
  if (match) {
    const stops = [];
    show(el("p", { role: "status" }, "Loading…"));
    onLeave(() => stops.forEach((stop) => stop()));
    await jobPage(main, api, decodeURIComponent(match[1]), (stop) => stops.push(stop));
  } else {
    await jobsPage();
  }
}

async function start() {
  window.addEventListener("hashchange", () => {
    if (!keyFromFragment()) route();
  });
  const key = keyFromFragment() || sessionStorage.getItem(KEY_STORAGE);
  if (!key) {
    signInPage();
    return;
  }
  try {
    await signIn(key);
  } catch (failure) {
    sessionStorage.removeItem(KEY_STORAGE);
    signInPage(failure instanceof ApiError ? failure.message : String(failure));
    return;
  }
  await route();
}

start();
