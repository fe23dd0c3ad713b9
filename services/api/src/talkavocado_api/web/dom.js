// Small DOM helpers: elements from a tag, attributes and children; a few shared widgets.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function banner(message, kind = "info") {
  return el("p", { class: `banner ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
}

// A <progress> with a text label; `set(share)` takes 0..1.
export function progressBar(share, label) {
  const bar = el("progress", { max: 100, value: Math.round(share * 100), "aria-label": label });
  const text = el("span", { class: "percent" }, `${Math.round(share * 100)}%`);
  const wrapper = el("span", { class: "progress" }, bar, text);
  wrapper.set = (value) => {
    const percent = Math.round(Math.max(0, Math.min(1, value)) * 100);
    bar.value = percent;
    text.textContent = `${percent}%`;
  };
  return wrapper;
}

export function statusBadge(status) {
  return el("span", { class: `badge ${status}` }, status);
}
