// Amazing Store Mini App: boot, the hash router, and the frame around every screen.

import { ApiError, api } from "./api.js";
import { currentDepth, goBack, loadCart, navigate, onRoute, setMain, state, syncDepth } from "./ctx.js";
import { h, icon } from "./dom.js";
import { normalizeLanguage, setLanguage, t } from "./i18n.js";
import * as pages from "./pages.js";
import { tg } from "./tg.js";

const ROUTES = [
  [/^\/$/, pages.home, "home"],
  [/^\/c\/(?<id>\d+)$/, pages.category, "home"],
  [/^\/search$/, pages.search, "home"],
  [/^\/p\/(?<id>\d+)$/, pages.product, "home"],
  [/^\/favorites$/, pages.favorites, "favorites"],
  [/^\/cart$/, pages.cart, "cart"],
  [/^\/checkout$/, pages.checkout, null],
  [/^\/placed\/(?<number>[^/]+)$/, pages.placed, "orders"],
  [/^\/orders$/, pages.orders, "orders"],
  [/^\/orders\/(?<number>[^/]+)$/, pages.order, "orders"],
];

const view = document.getElementById("view");
const tabbar = document.getElementById("tabbar");
const scrollMemory = new Map();
let renderToken = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, queryString] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(queryString || "") };
}

function spinner() {
  return h("div", { class: "center-screen" }, h("div", { class: "spinner" }));
}

function errorScreen(error, retry) {
  setMain(null);
  const message = error instanceof ApiError && error.status === 401 ? t("app.open_in_telegram") : error.message;
  return h("div", { class: "page" }, h("div", { class: "empty" }, icon("alert", "empty-icon"),
    h("h2", {}, t("app.error_title")), h("p", {}, message || ""),
    retry ? h("button", { type: "button", class: "btn", onclick: retry }, t("app.retry")) : null));
}

async function render() {
  syncDepth();
  const mine = ++renderToken;
  const { path, query } = parseHash();
  const match = ROUTES.map(([re, page, tab]) => [path.match(re), page, tab]).find(([m]) => m);
  const [found, page, tab] = match || [null, pages.notFound, null];
  const params = (found && found.groups) || {};
  const isHome = path === "/";

  tg.setBack(!isHome, goBack);
  tabbar.hidden = tab === null;
  document.body.classList.toggle("no-tabbar", tab === null);
  for (const link of tabbar.querySelectorAll("a")) link.classList.toggle("active", link.dataset.tab === tab);

  const key = `${currentDepth()}:${location.hash}`;
  if (view.firstChild && !view.querySelector(".center-screen")) view.replaceChildren(spinner());
  let node;
  try {
    node = await page(params, query, () => render());
  } catch (error) {
    console.error(error);
    node = errorScreen(error, () => render());
  }
  if (mine !== renderToken) return;
  const frame = [];
  if (!tg.native && !isHome) {
    // No Telegram client around the page: an in-page back button stands in for the native one.
    frame.push(h("button", { type: "button", class: "back-link", "aria-label": "←", onclick: goBack }, icon("back")));
  }
  view.replaceChildren(...frame, node);
  window.scrollTo(0, scrollMemory.get(key) || 0);
}

function rememberScroll() {
  scrollMemory.set(`${currentDepth()}:${location.hash}`, window.scrollY);
}

function needTelegram() {
  setLanguage(normalizeLanguage(navigator.language));
  view.replaceChildren(h("div", { class: "page" }, h("div", { class: "empty" }, icon("bag", "empty-icon"),
    h("h2", {}, t("store.name")), h("p", {}, t("app.open_in_telegram")))));
}

function startRoute() {
  // Telegram opens the page with its own parameters in the fragment (#tgWebAppData=...); the
  // script has read them by now, so the fragment becomes the app's route. A start parameter
  // (t.me/bot/app?startapp=p_12) opens a product (p_) or a category (c_).
  const hash = location.hash.replace(/^#/, "");
  if (hash.startsWith("/")) return hash;
  const start = /^([pc])_(\d+)$/.exec(tg.startParam || "");
  return start ? `/${start[1]}/${start[2]}` : "/";
}

async function boot() {
  tg.init();
  if (!tg.initData) {
    needTelegram();
    return;
  }
  setLanguage(normalizeLanguage(tg.user && tg.user.language_code));
  history.replaceState({ depth: 0 }, "", `${location.pathname}${location.search}#${startRoute()}`);
  try {
    state.me = await api("GET", "/api/me");
    setLanguage(state.me.language);
    await loadCart();
  } catch (error) {
    view.replaceChildren(errorScreen(error, () => location.reload()));
    return;
  }
  onRoute(render);
  window.addEventListener("popstate", render);
  window.addEventListener("scroll", rememberScroll, { passive: true });
  // Links (<a href="#/...">) navigate forward like buttons do, keeping the back button right.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#/"]');
    if (!link) return;
    event.preventDefault();
    navigate(link.getAttribute("href").slice(1));
  });
  for (const slot of tabbar.querySelectorAll("[data-icon]")) slot.prepend(icon(slot.dataset.icon, "tab-svg"));
  tabbar.hidden = false;
  await render();
}

boot();
