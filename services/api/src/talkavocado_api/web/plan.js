// The plan as the page shows it, and the preview's skipping: pure functions of the plan the
// API returns (GET /jobs/{id}/plan), no DOM.

export function formatSeconds(seconds) {
  const sign = seconds < 0 ? "-" : "";
  const total = Math.abs(seconds);
  const minutes = Math.floor(total / 60);
  const rest = total - minutes * 60;
  return minutes > 0
    ? `${sign}${minutes}:${rest.toFixed(1).padStart(4, "0")}`
    : `${sign}${rest.toFixed(1)} s`;
}

const MARKED = {
  pause: "pause",
  "unworded-sound": "sound",
  "leading-silence": "silence",
  "trailing-silence": "silence",
};

// The transcript as a list of items in time order: words (kept or struck) and marks for cut
// stretches without words (a shortened pause, an unworded sound, silence at either end).
export function transcriptItems(plan) {
  const items = [];
  const words = plan.words || [];
  let w = 0;
  for (const region of plan.regions) {
    const inside = [];
    while (w < words.length && (words[w].start + words[w].end) / 2 < region.end) {
      inside.push(words[w]);
      w += 1;
    }
    inside.forEach((word, i) => {
      // The word's share of its region: up to its neighbours, or to the region's edges.
      const slot = [
        i === 0 ? region.start : inside[i - 1].end,
        i === inside.length - 1 ? region.end : inside[i + 1].start,
      ];
      items.push({
        kind: "word",
        start: word.start,
        end: word.end,
        text: word.word,
        action: word.action,
        reason: region.reason,
        slot,
      });
    });
    // A cut without words, or a stretch without words a person kept again: a mark to toggle.
    if (inside.length === 0 && (region.action === "cut" || region.reason === "edited")) {
      items.push({
        kind: region.action === "cut" ? MARKED[region.reason] || "cut" : "restored",
        start: region.start,
        end: region.end,
        action: region.action,
        reason: region.reason,
        text: region.text || null,
      });
    }
  }
  while (w < words.length) {
    const word = words[w++];
    items.push({ kind: "word", start: word.start, end: word.end, text: word.word, action: word.action, reason: "speech" });
  }
  return items;
}

// Seconds removed, by reason, largest first.
export function removedByReason(plan) {
  const totals = new Map();
  for (const region of plan.regions) {
    if (region.action !== "cut") continue;
    totals.set(region.reason, (totals.get(region.reason) || 0) + region.end - region.start);
  }
  return [...totals.entries()].sort((a, b) => b[1] - a[1]);
}

// The cut stretches, merged where they touch, for the preview to skip.
export function cutRanges(plan) {
  const ranges = [];
  for (const region of plan.regions) {
    if (region.action !== "cut") continue;
    const last = ranges[ranges.length - 1];
    if (last && region.start <= last[1] + 1e-6) last[1] = Math.max(last[1], region.end);
    else ranges.push([region.start, region.end]);
  }
  return ranges;
}

// Where the preview goes from `time`: the end of the cut it is in, or null when it is kept.
export function skipTarget(ranges, time) {
  let low = 0;
  let high = ranges.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [start, end] = ranges[middle];
    if (time < start) high = middle - 1;
    else if (time >= end - 1e-3) low = middle + 1;
    else return end;
  }
  return null;
}

// The edit that flips an item: keep what is cut, cut what is kept. A cut word is restored
// with its share of the cut (a filler's cut reaches past the word into the quiet around it);
// a kept word is cut on its own.
export function toggleEdit(item) {
  if (item.action === "cut" && item.slot) {
    return { start: item.slot[0], end: item.slot[1], action: "keep" };
  }
  return { start: item.start, end: item.end, action: item.action === "cut" ? "keep" : "cut" };
}

// One edit over a run of selected items (first to last, in time order).
export function selectionEdit(items, action) {
  if (items.length === 0) return null;
  const start = Math.min(...items.map((i) => i.start));
  const end = Math.max(...items.map((i) => i.end));
  return end > start ? { start, end, action } : null;
}
