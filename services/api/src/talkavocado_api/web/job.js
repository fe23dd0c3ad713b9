// A job's page: its status live, and once the plan exists the review — the source video beside
// its transcript with every cut in place, keep/cut toggles, the preview that skips the cuts,
// rendering a revision, and the revisions to play and download.

import { ApiError } from "./api.js";
import { banner, el, progressBar, statusBadge } from "./dom.js";
import {
  cutRanges,
  formatSeconds,
  removedByReason,
  selectionEdit,
  skipTarget,
  toggleEdit,
  transcriptItems,
} from "./plan.js";

const ACTIVE = new Set(["pending", "processing"]);
const REASONS = {
  pause: "Shortened pauses",
  filler: "Filler words",
  "unworded-sound": "Unworded sounds",
  "leading-silence": "Silence at the start",
  "trailing-silence": "Silence at the end",
  edited: "Your cuts",
};

function message(failure) {
  return failure instanceof ApiError ? failure.message : String(failure);
}

export async function jobPage(main, api, jobId, onStop) {
  let job;
  try {
    job = await api.job(jobId);
  } catch (failure) {
    const text = failure.status === 404 ? "There is no such job for this tenant." : message(failure);
    main.replaceChildren(el("p", {}, el("a", { href: "#/" }, "← Jobs")), banner(text, "error"));
    return;
  }
  const page = new JobPage(main, api, job, onStop);
  await page.show();
}

class JobPage {
  constructor(main, api, job, onStop) {
    this.main = main;
    this.api = api;
    this.job = job;
    this.onStop = onStop;
    this.plan = null;
    this.items = [];
    this.anchor = null; // index of the item a Shift+click selects from
    this.selected = [];
    this.status = el("div", { class: "job-status", "aria-live": "polite" });
    this.review = el("div", { class: "review" });
    this.notice = el("div", { role: "status", "aria-live": "polite" });
  }

  get id() {
    return this.job.jobId;
  }

  async show() {
    const title = this.job.input?.originalFilename || this.id;
    this.main.replaceChildren(
      el("p", {}, el("a", { href: "#/" }, "← Jobs")),
      el("h1", {}, title),
      this.status,
      this.notice,
      this.review,
    );
    this.drawStatus(null);
    if (ACTIVE.has(this.job.status)) this.follow();
    await this.loadReview();
  }

  drawStatus(progress) {
    const job = this.job;
    const parts = [statusBadge(job.status)];
    if (ACTIVE.has(job.status)) {
      const bar = progressBar(progress ?? 0, "Job progress");
      parts.push(bar);
      parts.push(el("button", { type: "button", onclick: () => this.cancel() }, "Cancel"));
    }
    if (job.status === "failed" && job.error) {
      const where = job.error.step ? ` in ${job.error.step}` : "";
      parts.push(banner(`Failed${where}: ${job.error.message} (${job.error.code})`, "error"));
      parts.push(el("button", { type: "button", onclick: () => this.retry() }, "Retry"));
    }
    if (job.status === "cancelled") parts.push(banner("This job was cancelled.", "info"));
    this.status.replaceChildren(...parts);
  }

  follow() {
    const stream = new AbortController();
    this.onStop(() => stream.abort());
    this.api
      .events(
        this.id,
        (event) => {
          const data = event.data || {};
          if (data.status && data.status !== this.job.status) {
            this.job = { ...this.job, status: data.status, error: data.error ?? this.job.error };
          }
          this.drawStatus(typeof data.progress === "number" ? data.progress : null);
          if (!ACTIVE.has(data.status)) {
            if (this.saving) this.saving.textContent = "";
            this.refresh();
          }
        },
        stream.signal,
      )
      .catch((failure) => this.notice.replaceChildren(banner(message(failure), "error")));
  }

  async refresh() {
    try {
      this.job = await this.api.job(this.id);
    } catch (failure) {
      this.notice.replaceChildren(banner(message(failure), "error"));
      return;
    }
    this.drawStatus(null);
    await this.loadReview();
  }

  async cancel() {
    try {
      await this.api.cancel(this.id);
      this.notice.replaceChildren(banner("Cancel requested.", "info"));
    } catch (failure) {
      this.notice.replaceChildren(banner(message(failure), "error"));
    }
  }

  async retry() {
    try {
      await this.api.retry(this.id);
      this.job = { ...this.job, status: "processing" };
      this.drawStatus(0);
      this.follow();
    } catch (failure) {
      this.notice.replaceChildren(banner(message(failure), "error"));
    }
  }

  // ---- the review --------------------------------------------------------------------------

  async loadReview() {
    if (!this.job.artifacts?.plan) return;
    try {
      this.plan = await this.api.plan(this.id);
    } catch (failure) {
      this.review.replaceChildren(banner(message(failure), "error"));
      return;
    }
    if (!this.video) await this.buildReview();
    this.drawPlan();
    await this.drawRevisions();
  }

  async buildReview() {
    this.video = el("video", { controls: true, preload: "metadata", "aria-label": "Source recording" });
    this.previewing = el("input", { id: "preview", type: "checkbox", checked: true });
    this.pauseTarget = el("input", {
      id: "pause-target",
      type: "number",
      min: 0,
      max: 5000,
      step: 50,
      value: this.plan.pauseTargetMs ?? 400,
    });
    this.saving = el("span", { class: "saving", role: "status", "aria-live": "polite" });
    this.stats = el("div", { class: "stats" });
    this.transcript = el("div", { class: "transcript", role: "group", "aria-label": "Transcript: press a word to cut or keep it" });
    this.revisions = el("section", { class: "revisions", "aria-labelledby": "revisions-title" });
    const selectionBar = el(
      "div",
      { class: "selection" },
      el("button", { type: "button", onclick: () => this.applySelection("cut") }, "Cut selection"),
      el("button", { type: "button", onclick: () => this.applySelection("keep") }, "Keep selection"),
      el("span", { class: "hint" }, "Shift+click a second word to select a stretch."),
    );
    const controls = el(
      "div",
      { class: "controls" },
      el("div", { class: "field check" }, this.previewing, el("label", { for: "preview" }, "Preview the cut (skip removed parts)")),
      el(
        "form",
        { class: "inline", onsubmit: (event) => this.changePauseTarget(event) },
        el("label", { for: "pause-target" }, "Pause target (ms)"),
        this.pauseTarget,
        el("button", { type: "submit" }, "Apply"),
      ),
      el("button", { type: "button", class: "primary", onclick: () => this.render() }, "Render this edit"),
      this.saving,
    );
    this.review.replaceChildren(
      el(
        "div",
        { class: "columns review-columns" },
        el("section", { class: "card player", "aria-label": "Player" }, this.video, controls, this.stats),
        el("section", { class: "card", "aria-labelledby": "transcript-title" }, el("h2", { id: "transcript-title" }, "Transcript"), selectionBar, this.transcript),
      ),
      this.revisions,
    );
    this.watchPlayback();
    await this.loadSource();
  }

  async loadSource() {
    const input = this.job.input?.key;
    if (!input) return;
    try {
      const link = await this.api.link(this.id, input);
      this.video.src = link.url;
    } catch (failure) {
      this.notice.replaceChildren(banner(`The recording cannot be played: ${message(failure)}`, "error"));
    }
  }

  watchPlayback() {
    let frame = 0;
    const tick = () => {
      if (this.previewing.checked && this.ranges) {
        const target = skipTarget(this.ranges, this.video.currentTime);
        if (target !== null) this.video.currentTime = Math.min(target, this.video.duration || target);
      }
      this.highlight(this.video.currentTime);
      if (!this.video.paused) frame = requestAnimationFrame(tick);
    };
    this.video.addEventListener("play", () => (frame = requestAnimationFrame(tick)));
    this.video.addEventListener("seeked", tick);
    this.onStop(() => cancelAnimationFrame(frame));
  }

  highlight(time) {
    const current = this.transcript.querySelector(".current");
    const index = this.items.findIndex((item) => item.start <= time && time < item.end);
    const node = index >= 0 ? this.transcript.children[index] : null;
    if (current === node) return;
    current?.classList.remove("current");
    node?.classList.add("current");
  }

  drawPlan() {
    const plan = this.plan;
    this.ranges = cutRanges(plan);
    this.items = transcriptItems(plan);
    this.selected = [];
    const focused = document.activeElement?.dataset?.index;
    this.transcript.replaceChildren(...this.items.map((item, index) => this.itemNode(item, index)));
    if (focused !== undefined) this.transcript.children[Number(focused)]?.focus();
    const removed = removedByReason(plan);
    const stats = plan.stats;
    this.stats.replaceChildren(
      el("h2", {}, "The cut"),
      el(
        "dl",
        {},
        el("dt", {}, "Recording"),
        el("dd", {}, formatSeconds(stats.sourceDurationSec)),
        el("dt", {}, "Kept"),
        el("dd", { "data-kept": stats.keptDurationSec }, formatSeconds(stats.keptDurationSec)),
        el("dt", {}, "Removed"),
        el("dd", {}, formatSeconds(stats.removedDurationSec)),
        ...removed.flatMap(([reason, seconds]) => [
          el("dt", { class: "reason" }, REASONS[reason] || reason),
          el("dd", {}, formatSeconds(seconds)),
        ]),
      ),
    );
  }

  itemNode(item, index) {
    const cut = item.action === "cut";
    const label =
      item.kind === "word"
        ? item.text.trim()
        : `${item.kind === "pause" ? "pause" : item.kind} ${(item.end - item.start).toFixed(1)} s`;
    const node = el(
      "button",
      {
        type: "button",
        class: `item ${item.kind} ${cut ? "cut" : "kept"}${item.reason === "edited" ? " edited" : ""}`,
        "data-index": index,
        "data-start": item.start,
        "aria-pressed": cut ? "false" : "true",
        title: `${formatSeconds(item.start)}–${formatSeconds(item.end)}: ${cut ? `cut (${REASONS[item.reason] || item.reason})` : "kept"}`,
      },
      cut && item.kind === "word" ? el("del", {}, label) : label,
    );
    node.addEventListener("click", (event) => this.itemClicked(event, index));
    node.addEventListener("dblclick", () => {
      this.video.currentTime = item.start;
    });
    return node;
  }

  itemClicked(event, index) {
    if (event.shiftKey && this.anchor !== null) {
      const [from, to] = [Math.min(this.anchor, index), Math.max(this.anchor, index)];
      this.selected = this.items.slice(from, to + 1);
      for (const [i, node] of [...this.transcript.children].entries()) {
        node.classList.toggle("selected", i >= from && i <= to);
      }
      return;
    }
    this.anchor = index;
    this.edit(toggleEdit(this.items[index]));
  }

  async applySelection(action) {
    const edit = selectionEdit(this.selected, action);
    if (!edit) {
      this.saving.textContent = "Select a stretch first: click a word, then Shift+click another.";
      return;
    }
    await this.edit(edit);
  }

  async edit(change) {
    await this.save([...(this.plan.edits || []), change], null);
  }

  async changePauseTarget(event) {
    event.preventDefault();
    const target = Number(this.pauseTarget.value);
    await this.save(this.plan.edits || [], { targetPauseMs: target });
  }

  async save(edits, planner) {
    this.saving.textContent = "Saving…";
    try {
      this.plan = await this.api.savePlan(this.id, edits, planner);
      this.saving.textContent = "Saved.";
      this.drawPlan();
    } catch (failure) {
      this.saving.textContent = "";
      this.notice.replaceChildren(banner(message(failure), "error"));
    }
  }

  async render() {
    this.saving.textContent = "Starting the render…";
    try {
      const accepted = await this.api.render(this.id);
      this.saving.textContent = `Rendering revision ${accepted.revision}…`;
      this.job = { ...this.job, status: "processing" };
      this.drawStatus(0);
      await this.awaitStart(accepted.revision);
    } catch (failure) {
      this.saving.textContent = "";
      this.notice.replaceChildren(banner(message(failure), "error"));
    }
  }

  // The job still says completed until the orchestrator takes the request (its event stream
  // would end at once): ask until it runs, then follow its events.
  async awaitStart(revision) {
    let stopped = false;
    this.onStop(() => (stopped = true));
    for (let tries = 0; tries < 120 && !stopped; tries += 1) {
      const job = await this.api.job(this.id);
      const mine = (job.revisions || []).find((r) => r.revision === revision);
      if (ACTIVE.has(job.status) || (mine && mine.status !== "rendering")) {
        this.job = job;
        if (ACTIVE.has(job.status)) this.follow();
        else await this.refresh();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  async drawRevisions() {
    const revisions = this.job.revisions || [];
    const list = el("ul", { class: "revision-list" });
    for (const revision of revisions) list.append(await this.revisionRow(revision));
    this.revisions.replaceChildren(
      el("h2", { id: "revisions-title" }, "Renders"),
      revisions.length ? list : el("p", {}, "No render yet."),
    );
  }

  async revisionRow(revision) {
    const links = el("span", { class: "downloads" });
    const row = el(
      "li",
      { "data-revision": revision.revision },
      el("strong", {}, `Revision ${revision.revision}`),
      " ",
      el("span", { class: "duration", "data-duration": revision.durationSec ?? "" }, revision.durationSec ? formatSeconds(revision.durationSec) : "—"),
      " ",
      links,
    );
    const files = [
      ...(revision.render ? [[revision.render, "Video"]] : []),
      ...(revision.subtitles || []).map((key) => [key, key.endsWith(".vtt") ? "VTT" : "SRT"]),
    ];
    for (const [key, label] of files) {
      try {
        const link = await this.api.link(this.id, key);
        links.append(el("a", { href: link.url, download: key.split("/").pop() }, label), " ");
        if (label === "Video") {
          links.append(
            el("button", { type: "button", onclick: () => this.play(link.url) }, "Play"),
            " ",
          );
        }
      } catch (failure) {
        links.append(el("span", { class: "error" }, `${label}: ${message(failure)}`), " ");
      }
    }
    return row;
  }

  play(url) {
    const player = el("video", { controls: true, autoplay: true, src: url, "aria-label": "Rendered video" });
    this.revisions.querySelector(".render-player")?.remove();
    this.revisions.append(el("div", { class: "render-player" }, player));
  }
}
