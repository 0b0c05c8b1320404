// DOM helpers: elements are built with h(), never from HTML strings, so names and addresses from
// the database can never inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style" && typeof value === "object") {
      for (const [prop, v] of Object.entries(value)) el.style.setProperty(prop, v);
    }
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

// Stroke icons (24x24), drawn from fixed strings below: no outside input reaches innerHTML.
const ICONS = {
  home: '<path d="M3 10.5 12 3l9 7.5V20a1 1 0 0 1-1 1h-5v-6h-6v6H4a1 1 0 0 1-1-1z"/>',
  heart: '<path d="M12 20.5s-7.5-4.6-9.2-9.1C1.6 8.1 3.8 4.5 7.3 4.5c2 0 3.5 1.1 4.7 2.7 1.2-1.6 2.7-2.7 4.7-2.7 3.5 0 5.7 3.6 4.5 6.9-1.7 4.5-9.2 9.1-9.2 9.1z"/>',
  cart: '<path d="M3 4h2.2l2.2 11.2a1.5 1.5 0 0 0 1.5 1.2h8.6a1.5 1.5 0 0 0 1.5-1.1L21 8H6.1"/><circle cx="9.5" cy="20" r="1.3"/><circle cx="17.5" cy="20" r="1.3"/>',
  box: '<path d="M21 8 12 3 3 8v8l9 5 9-5z"/><path d="M3 8l9 5 9-5M12 13v8"/>',
  search: '<circle cx="11" cy="11" r="6.5"/><path d="m20 20-4.2-4.2"/>',
  back: '<path d="M15 5l-7 7 7 7"/>',
  trash: '<path d="M4 7h16M10 11v6M14 11v6M6 7l1 12a2 2 0 0 0 2 2h6a2 2 0 0 0 2-2l1-12M9 7V4h6v3"/>',
  check: '<path d="M5 12.5l4.5 4.5L19 7.5"/>',
  chevron: '<path d="M9 5l7 7-7 7"/>',
  minus: '<path d="M6 12h12"/>',
  plus: '<path d="M12 6v12M6 12h12"/>',
  bag: '<path d="M5 8h14l-1 12H6z"/><path d="M9 8V6a3 3 0 0 1 6 0v2"/>',
  share: '<path d="M12 3v12M7 8l5-5 5 5"/><path d="M5 12v7a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2v-7"/>',
  filter: '<path d="M4 6h16M7 12h10M10 18h4"/>',
  alert: '<circle cx="12" cy="12" r="9"/><path d="M12 7.5v5.5M12 16.3v.2"/>',
};

export function icon(name, cls = "icon") {
  const span = document.createElement("span");
  span.className = cls;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">${ICONS[name] || ""}</svg>`;
  return span;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let toastTimer = 0;

export function toast(message, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.dataset.kind = kind;
  el.dataset.screen = location.hash;
  el.hidden = false;
  el.classList.remove("show");
  void el.offsetWidth; // restart the transition
  el.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.classList.remove("show"); setTimeout(() => { el.hidden = true; }, 250); }, 2800);
}

// A message belongs to the screen it was said on: moving to another one takes it away.
export function hideToastOfOtherScreens(screen) {
  const el = document.getElementById("toast");
  if (!el || el.hidden || el.dataset.screen === screen) return;
  clearTimeout(toastTimer);
  el.classList.remove("show");
  el.hidden = true;
}

// Grey shapes of the screen to come, drawn while its data is on the way (first visit only).
export function skeleton(shape) {
  const bar = (cls) => h("div", { class: `sk ${cls}` });
  const card = () => h("div", { class: "card sk-card" }, bar("sk-media"), h("div", { class: "body" }, bar("sk-line"), bar("sk-line short")));
  const cards = (n) => h("div", { class: "grid" }, Array.from({ length: n }, card));
  let body;
  if (shape === "home") {
    body = [bar("sk-search"), bar("sk-banner"), h("div", { class: "cat-grid" }, Array.from({ length: 8 }, () => bar("sk-cat"))), cards(4)];
  } else if (shape === "product") {
    body = [bar("sk-hero"), h("div", { class: "section" }, bar("sk-line wide"), bar("sk-line"), bar("sk-line short"))];
  } else if (shape === "list") {
    body = [bar("sk-title"), Array.from({ length: 4 }, () => h("div", { class: "section sk-row" }, bar("sk-thumb"),
      h("div", { class: "sk-col" }, bar("sk-line"), bar("sk-line short"))))];
  } else {
    body = [bar("sk-title"), bar("sk-chips"), cards(6)];
  }
  return h("div", { class: "page skeleton", "aria-busy": "true" }, body);
}

// A question asked in the app's own language (Telegram's native dialogs have no Uzbek buttons): a
// sheet with the destructive choice in red. Resolves true when the customer confirms.
export function confirmSheet({ text, ok, cancel, danger = true }) {
  return new Promise((resolve) => {
    const previous = document.activeElement;
    const done = (answer) => {
      root.remove();
      document.removeEventListener("keydown", onKey);
      if (previous && previous.focus) previous.focus();
      resolve(answer);
    };
    const onKey = (event) => { if (event.key === "Escape") done(false); };
    const okButton = h("button", { type: "button", class: danger ? "btn danger wide confirm-ok" : "btn wide confirm-ok", onclick: () => done(true) }, ok);
    const root = h("div", { class: "sheet-backdrop", onclick: (event) => { if (event.target === root) done(false); } },
      h("div", { class: "sheet", role: "alertdialog", "aria-modal": "true", "aria-label": text },
        h("p", { class: "sheet-text" }, text),
        okButton,
        h("button", { type: "button", class: "btn ghost wide confirm-cancel", onclick: () => done(false) }, cancel)));
    document.addEventListener("keydown", onKey);
    document.body.append(root);
    okButton.focus();
  });
}

export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}
