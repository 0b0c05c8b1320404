// Amazing Store Mini App: boot, the hash router, and the frame around every screen.

import { ApiError, api, get, remember, refresh, takeStaleReads } from "./api.js";
import { currentDepth, goBack, navigate, onRoute, setCart, setMain, setTabVisible, state, syncDepth } from "./ctx.js";
import { h, hideToastOfOtherScreens, icon, skeleton } from "./dom.js";
import { loadTexts, normalizeLanguage, setLanguage, t } from "./i18n.js";
import * as pages from "./pages.js";
import { ensureTelegram, tg } from "./tg.js";

// [pattern, screen, tab it belongs to, skeleton shape]
const ROUTES = [
  [/^\/$/, pages.home, "home", "home"],
  [/^\/c\/(?<id>\d+)$/, pages.category, "home", "grid"],
  [/^\/search$/, pages.search, "home", "grid"],
  [/^\/p\/(?<id>\d+)$/, pages.product, null, "product"], // the MainButton is its action: no tab bar
  [/^\/favorites$/, pages.favorites, "favorites", "grid"],
  [/^\/cart$/, pages.cart, "cart", "list"],
  [/^\/checkout$/, pages.checkout, null, "list"],
  [/^\/placed\/(?<number>[^/]+)$/, pages.placed, "orders", "list"],
  [/^\/orders$/, pages.orders, "orders", "list"],
  [/^\/orders\/(?<number>[^/]+)$/, pages.order, "orders", "list"],
];
// The screens the tab bar leads to: Telegram's Close, not Back, while the tab bar shows.
const TAB_ROOTS = new Set(["/", "/favorites", "/cart", "/orders"]);

const view = document.getElementById("view");
const tabbar = document.getElementById("tabbar");
const scrollMemory = new Map();
let renderToken = 0;
const SLOW = Symbol("slow");

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, queryString] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(queryString || "") };
}

function errorScreen(error, retry) {
  setMain(null);
  const message = error instanceof ApiError && error.status === 401 ? t("app.open_in_telegram") : error.message;
  return h("div", { class: "page error-page" }, h("div", { class: "empty" }, icon("alert", "empty-icon"),
    h("h2", {}, t("app.error_title")), h("p", {}, message || ""),
    retry ? h("button", { type: "button", class: "btn", onclick: retry }, t("app.retry")) : null));
}

// `quiet`: the same screen drawn again with fresher data (keeps the scroll position, no skeleton).
async function render({ quiet = false } = {}) {
  syncDepth();
  const mine = ++renderToken;
  const { path, query } = parseHash();
  const match = ROUTES.map(([re, page, tab, shape]) => [path.match(re), page, tab, shape]).find(([m]) => m);
  const [found, page, tab, shape] = match || [null, pages.notFound, null, "list"];
  const params = (found && found.groups) || {};
  const key = `${currentDepth()}:${location.hash}`;
  const scrollBefore = window.scrollY;

  if (!quiet) {
    hideToastOfOtherScreens(location.hash);
    setTabVisible(tab !== null);
    for (const link of tabbar.querySelectorAll("a")) link.classList.toggle("active", link.dataset.tab === tab);
  }
  takeStaleReads();
  let node;
  try {
    const pending = page(params, query, () => render());
    let first = await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve(SLOW), 40))]);
    if (first === SLOW) {
      // Not seen before: the screen's shape at once, its content when it comes.
      if (mine === renderToken && !quiet) {
        view.replaceChildren(skeleton(shape));
        window.scrollTo(0, 0);
      }
      first = await pending;
    }
    node = first;
  } catch (error) {
    console.error(error);
    if (quiet) return;
    node = errorScreen(error, () => render());
  }
  if (mine !== renderToken) return;
  const stale = takeStaleReads();
  const frame = [];
  // Back where the tab bar is not the way out; Telegram's Close on the tab bar's own screens.
  const back = !(TAB_ROOTS.has(path) && !tabbar.hidden);
  tg.setBack(back, goBack);
  if (!tg.native && back) {
    // No Telegram client around the page: an in-page back button stands in for the native one.
    frame.push(h("button", { type: "button", class: "back-link", "aria-label": t("app.back"), onclick: goBack }, icon("back")));
  }
  view.replaceChildren(...frame, node);
  window.scrollTo(0, quiet ? scrollBefore : scrollMemory.get(key) || 0);
  if (stale.size) {
    refresh(stale).then((changed) => {
      if (changed && mine === renderToken && !view.querySelector(".keep-live")) render({ quiet: true });
    });
  }
}

function rememberScroll() {
  scrollMemory.set(`${currentDepth()}:${location.hash}`, window.scrollY);
}

async function needTelegram() {
  const lang = normalizeLanguage(navigator.language);
  await loadTexts(lang);
  setLanguage(lang);
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
  await ensureTelegram();
  tg.init();
  if (!tg.initData) {
    await needTelegram();
    return;
  }
  const guess = normalizeLanguage(tg.user && tg.user.language_code);
  const route = startRoute();
  history.replaceState({ depth: 0 }, "", `${location.pathname}${location.search}#${route}`);
  try {
    // Everything start-up needs at once: the customer, their cart, the texts in the likely language
    // and the home screen's data when that is where we start.
    const home = route === "/" ? get("/api/home").catch(() => null) : null;
    const favorites = get("/api/favorites").then((f) => { state.favorites = new Set(f.items.map((p) => p.id)); })
      .catch(() => {});
    const [me, cart] = await Promise.all([api("GET", "/api/me"), api("GET", "/api/cart"), loadTexts(guess), favorites]);
    state.me = me;
    if (me.language !== guess) await loadTexts(me.language);
    setLanguage(me.language);
    setCart(cart);
    remember("/api/cart", cart);
    if (home) await home;
  } catch (error) {
    await loadTexts(guess).catch(() => {});
    setLanguage(guess);
    view.replaceChildren(errorScreen(error, () => location.reload()));
    return;
  }
  onRoute(render);
  window.addEventListener("popstate", () => render());
  window.addEventListener("scroll", rememberScroll, { passive: true });
  // Links (<a href="#/...">) navigate forward like buttons do, keeping the back button right; the
  // tab bar switches tabs (no way "back" into another tab).
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#/"]');
    if (!link) return;
    event.preventDefault();
    if (link.closest("#tabbar")) navigate(link.getAttribute("href").slice(1), { tab: true });
    else navigate(link.getAttribute("href").slice(1));
  });
  for (const slot of tabbar.querySelectorAll("[data-icon]")) slot.prepend(icon(slot.dataset.icon, "tab-svg"));
  await render();
}

boot();
