// The screens. Each takes the route's params and query and returns a DOM node; data comes only
// from the authenticated API.

import { ApiError, api, forget, get, newIdempotencyKey, remember } from "./api.js";
import {
  emptyState, followCart, pageHeader, priceBlock, productCard, productGrid, productImage, sectionTitle, shelf,
  statusPill, stepper, stockLabel,
} from "./components.js";
import {
  cartQuantity, cartSettled, cartUnits, loadCart, mainProgress, navigate, onCartChange, pendingCart, setCart,
  setCartMain, setMain, showError, state, wantQuantity,
} from "./ctx.js";
import { confirmSheet, debounce, h, icon, toast } from "./dom.js";
import { formatDate, formatPhone, language, loadTexts, money, setLanguage, t } from "./i18n.js";
import { tg } from "./tg.js";

const SORTS = ["popular", "price_asc", "price_desc", "newest"];

// --- shared bits ---

function searchBar(value, { autofocus = false, onInput = null } = {}) {
  const input = h("input", {
    type: "search", class: "search-input", placeholder: t("app.search_placeholder"), value: value || "",
    enterkeyhint: "search", autocomplete: "off", "aria-label": t("app.search"),
  });
  const form = h("form", { class: "search", role: "search" }, icon("search", "search-icon"), input);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    input.blur();
    if (!onInput) navigate(`/search?q=${encodeURIComponent(input.value.trim())}`);
    else onInput(input.value);
  });
  if (onInput) input.addEventListener("input", debounce(() => onInput(input.value), 300));
  else input.addEventListener("focus", () => navigate("/search"));
  if (autofocus) setTimeout(() => input.focus(), 50);
  return form;
}

function languageSwitch(onChange) {
  const make = (lang) => h("button", {
    type: "button", class: language() === lang ? "active" : "", "data-lang": lang, "aria-pressed": String(language() === lang),
    onclick: async () => {
      if (language() === lang) return;
      try {
        const [me] = await Promise.all([api("PUT", "/api/me/language", { language: lang }), loadTexts(lang)]);
        state.me = me;
        forget(); // every screen seen so far speaks the other language
        setLanguage(state.me.language);
        tg.haptic("select");
        setCart(await api("GET", "/api/cart"));
        onChange();
      } catch (error) {
        showError(error);
      }
    },
  }, lang.toUpperCase());
  return h("div", { class: "lang-switch", role: "group", "aria-label": t("app.language") }, make("uz"), make("ru"));
}

function sortChips(active, onSelect, withRelevance = false) {
  const sorts = withRelevance ? ["relevance", ...SORTS] : SORTS;
  return h("div", { class: "chips", role: "tablist" }, sorts.map((sort) => h("button", {
    type: "button", class: sort === active ? "chip active" : "chip", "data-sort": sort,
    onclick: () => { if (sort !== active) { tg.haptic("select"); onSelect(sort); } },
  }, t(`app.sort.${sort}`))));
}

// --- filters: in stock, on sale, a price range; carried in the route's query ---

const FILTER_KEYS = ["in_stock", "on_sale", "price_min", "price_max"];

function filtersOf(query) {
  const f = {};
  for (const key of FILTER_KEYS) {
    const value = query.get(key);
    if (value && (key.startsWith("price") ? /^\d{1,12}$/.test(value) : value === "1")) f[key] = value;
  }
  return f;
}

function filterQuery(f) {
  return FILTER_KEYS.filter((k) => f[k]).map((k) => `${k}=${encodeURIComponent(f[k])}`).join("&");
}

function withFilters(chipsRow, button) {
  chipsRow.prepend(button);
  return chipsRow;
}

// A chip that says how many filters are on; it opens a sheet to change them.
function filterButton(current, onApply) {
  const count = Object.keys(current).length;
  return h("button", {
    type: "button", class: count ? "chip active filters-chip" : "chip filters-chip", "aria-haspopup": "dialog",
    onclick: () => {
      const box = (key) => h("label", { class: "check" }, h("input", { type: "checkbox", name: key, checked: current[key] === "1" }),
        h("span", {}, t(`app.filter.${key}`)));
      const price = (key) => h("label", { class: "field" }, h("span", { class: "field-label" }, t(`app.filter.${key}`)),
        h("input", { type: "text", inputmode: "numeric", name: key, value: current[key] || "", autocomplete: "off" }));
      const form = h("form", { class: "sheet filters-sheet", role: "dialog", "aria-modal": "true", "aria-label": t("app.filters") },
        h("p", { class: "sheet-text" }, t("app.filters")), box("in_stock"), box("on_sale"),
        h("div", { class: "price-range" }, price("price_min"), price("price_max")),
        h("button", { type: "submit", class: "btn wide apply-filters" }, t("app.filter.apply")),
        h("button", { type: "button", class: "btn ghost wide reset-filters", onclick: () => { close(); onApply({}); } }, t("app.filter.reset")));
      const backdrop = h("div", { class: "sheet-backdrop", onclick: (event) => { if (event.target === backdrop) close(); } }, form);
      const close = () => backdrop.remove();
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const next = {};
        for (const key of ["in_stock", "on_sale"]) if (form.elements[key].checked) next[key] = "1";
        for (const key of ["price_min", "price_max"]) {
          const digits = form.elements[key].value.replace(/\D/g, "");
          if (digits) next[key] = String(Number(digits));
        }
        close();
        onApply(next);
      });
      document.body.append(backdrop);
    },
  }, icon("filter", "icon small"), h("span", {}, count ? `${t("app.filters")} · ${count}` : t("app.filters")));
}

// A paged product list with infinite scroll: the next page comes as the end of the list nears (the
// button stays for keyboards and old web views). How many pages were shown is remembered, so Back
// draws them all again from memory and the scroll position lands where it was.
const pagesShown = new Map();

async function pagedProducts(makeQuery, first, onCartChange) {
  const grid = productGrid(first.items, onCartChange);
  const root = h("div", { class: "paged" }, grid);
  const key = makeQuery(1);
  let page = first.page;
  let pages = first.pages;
  const more = h("button", { type: "button", class: "btn ghost wide load-more", hidden: page >= pages }, t("app.load_more"));
  let loading = false;
  const next = async () => {
    if (loading || page >= pages) return;
    loading = true;
    more.disabled = true;
    try {
      const data = await get(`/api/products?${makeQuery(page + 1)}`);
      page = data.page;
      pages = data.pages;
      pagesShown.set(key, page);
      for (const product of data.items) grid.append(productCard(product, onCartChange));
      more.hidden = page >= pages;
    } catch (error) {
      showError(error);
    } finally {
      loading = false;
      more.disabled = false;
    }
  };
  more.addEventListener("click", next);
  while (page < Math.min(pagesShown.get(key) || 1, pages)) await next(); // back to where the customer was
  if ("IntersectionObserver" in window) {
    const observer = new IntersectionObserver((entries) => {
      if (!more.isConnected && root.dataset.shown) { observer.disconnect(); return; }
      if (entries.some((e) => e.isIntersecting)) next();
    }, { rootMargin: "600px 0px" });
    observer.observe(more);
    root.dataset.shown = "1";
  }
  root.append(more);
  return root;
}

function bannerCarousel(banners) {
  if (!banners.length) return null;
  const dots = h("div", { class: "dots" }, banners.map((_, i) => h("span", { class: i === 0 ? "on" : "" })));
  const track = h("div", { class: "carousel" }, banners.map((banner) => h("button", {
    type: "button", class: "banner", "aria-label": banner.title || "",
    onclick: () => {
      if (banner.link_type === "product" && banner.link_id) navigate(`/p/${banner.link_id}`);
      else if (banner.link_type === "category" && banner.link_id) navigate(`/c/${banner.link_id}`);
      else if (banner.link_type === "url" && banner.link_url) tg.openLink(banner.link_url);
    },
  }, h("img", { src: banner.image_url, alt: "" }), banner.title ? h("span", { class: "caption" }, banner.title) : null)));
  track.addEventListener("scroll", debounce(() => {
    const index = Math.round(track.scrollLeft / Math.max(1, track.clientWidth));
    [...dots.children].forEach((dot, i) => dot.classList.toggle("on", i === index));
  }, 60), { passive: true });
  if (banners.length > 1) {
    const timer = setInterval(() => {
      if (!track.isConnected) { clearInterval(timer); return; }
      const index = Math.round(track.scrollLeft / Math.max(1, track.clientWidth));
      track.scrollTo({ left: ((index + 1) % banners.length) * track.clientWidth, behavior: "smooth" });
    }, 5000);
  }
  return h("section", { class: "banners" }, track, banners.length > 1 ? dots : null);
}

function categoryTiles(categories) {
  return h("div", { class: "cat-grid" }, categories.map((category) => h("button", {
    type: "button", class: "cat", "data-category": category.id, onclick: () => navigate(`/c/${category.id}`),
  }, h("span", { class: "cat-icon" }, category.icon || "🛍"), h("span", { class: "cat-name" }, category.name))));
}

// --- home ---

export async function home(params, query, rerender) {
  const [data, viewed] = await Promise.all([get("/api/home"), recentlyViewed()]);
  setCartMain();
  const refreshMain = () => setCartMain();
  return h("div", { class: "page home" },
    h("div", { class: "topbar" }, searchBar(""), languageSwitch(rerender)),
    bannerCarousel(data.banners),
    h("section", { class: "section" }, sectionTitle(t("app.categories")), categoryTiles(data.categories)),
    data.on_sale.length ? h("section", { class: "block" },
      sectionTitle(t("app.on_sale"), h("a", { href: "#/search?on_sale=1&sort=popular", class: "more" }, t("app.see_all"))),
      shelf(data.on_sale, refreshMain)) : null,
    viewed.length ? h("section", { class: "block recently-viewed" }, sectionTitle(t("app.recently_viewed")),
      shelf(viewed, refreshMain)) : null,
    data.popular.length ? h("section", { class: "block" },
      sectionTitle(t("app.popular"), h("a", { href: "#/search?sort=popular", class: "more" }, t("app.see_all"))),
      productGrid(data.popular, refreshMain)) : null,
  );
}

// --- category ---

export async function category(params, query) {
  const id = params.id;
  const sort = SORTS.includes(query.get("sort")) ? query.get("sort") : "popular";
  const filters = filtersOf(query);
  const extra = filterQuery(filters);
  const makeQuery = (page) => `category=${id}&sort=${sort}&page=${page}${extra ? `&${extra}` : ""}`;
  const routeFor = (nextSort, f) => `/c/${id}?sort=${nextSort}${filterQuery(f) ? `&${filterQuery(f)}` : ""}`;
  const [view, first] = await Promise.all([get(`/api/categories/${id}`), get(`/api/products?${makeQuery(1)}`)]);
  setCartMain();
  const refreshMain = () => setCartMain();
  return h("div", { class: "page category" },
    pageHeader(view.category.name, view.parent ? view.parent.name : t("app.results", { count: first.total })),
    view.children.length ? h("div", { class: "chips subcats" }, view.children.map((child) => h("button", {
      type: "button", class: "chip", "data-category": child.id, onclick: () => navigate(`/c/${child.id}`),
    }, child.name))) : null,
    h("div", { class: "sticky-sort" }, withFilters(sortChips(sort, (next) => navigate(routeFor(next, filters), { replace: true })),
      filterButton(filters, (f) => navigate(routeFor(sort, f), { replace: true })))),
    first.items.length ? await pagedProducts(makeQuery, first, refreshMain) : emptyState("search", t("app.no_results")),
  );
}

// --- search ---

const RECENT = "amazing-store:recent-searches";

function recentQueries() {
  try { return JSON.parse(localStorage.getItem(RECENT) || "[]").filter((q) => typeof q === "string"); } catch { return []; }
}

function rememberQuery(q) {
  if (!q) return;
  try {
    const list = [q, ...recentQueries().filter((x) => x.toLowerCase() !== q.toLowerCase())].slice(0, 8);
    localStorage.setItem(RECENT, JSON.stringify(list));
  } catch { /* private mode */ }
}

// Results as the customer types (relevance first unless they chose a sort), names suggested under
// the box, recent searches when the box is empty, popular products when nothing matches.
export async function search(params, query) {
  let q = query.get("q") || "";
  let sort = SORTS.includes(query.get("sort")) ? query.get("sort") : null;
  const filters = filtersOf(query);
  const onSale = filters.on_sale === "1";
  const results = h("div", { class: "results" });
  const suggestions = h("div", { class: "suggestions", role: "listbox", hidden: true });
  const recent = h("div", { class: "recent" });
  const refreshMain = () => setCartMain();
  let token = 0;

  const drawRecent = () => {
    const list = q ? [] : recentQueries();
    recent.replaceChildren(...(list.length ? [h("h2", { class: "section-label" }, t("app.recent_searches")),
      h("div", { class: "chips wrap" }, list.map((text) => h("button", {
        type: "button", class: "chip recent-query", onclick: () => { input.value = text; q = text; rememberQuery(q); run(); },
      }, text)))] : []));
  };
  const popularInstead = async () => {
    try {
      const popular = await get("/api/products?sort=popular&per_page=6&in_stock=1");
      return h("div", { class: "instead" }, h("h2", { class: "section-label" }, t("app.popular_instead")),
        productGrid(popular.items, refreshMain));
    } catch { return null; }
  };
  const run = async () => {
    const mine = ++token;
    const makeQuery = (page) => {
      const parts = [];
      if (sort) parts.push(`sort=${sort}`);
      parts.push(`page=${page}`);
      if (q) parts.push(`q=${encodeURIComponent(q)}`);
      if (filterQuery(filters)) parts.push(filterQuery(filters));
      return parts.join("&");
    };
    const hash = `/search?${makeQuery(1).replace(/&?page=1/, "").replace(/^&/, "")}`;
    history.replaceState(history.state, "", "#" + hash);
    suggestions.hidden = true;
    drawRecent();
    if (!q && !sort && !filterQuery(filters)) { results.replaceChildren(); return; }
    try {
      const first = await get(`/api/products?${makeQuery(1)}`);
      if (mine !== token) return;
      results.replaceChildren(
        h("p", { class: "hint count" }, t("app.results", { count: first.total })),
        first.items.length ? await pagedProducts(makeQuery, first, refreshMain)
          : h("div", {}, emptyState("search", t("app.no_results")), await popularInstead()),
      );
    } catch (error) {
      if (mine === token) showError(error);
    }
  };
  const suggest = async (value) => {
    const text = value.trim();
    if (text.length < 2) { suggestions.hidden = true; return; }
    const mine = ++token;
    try {
      const found = await get(`/api/products?q=${encodeURIComponent(text)}&per_page=6`);
      if (mine !== token) return;
      suggestions.replaceChildren(...found.items.map((item) => h("button", {
        type: "button", class: "suggestion", role: "option", "data-suggest": item.id,
        onclick: () => { rememberQuery(text); navigate(`/p/${item.id}`); },
      }, icon("search", "icon small"), h("span", {}, item.name))));
      suggestions.hidden = !found.items.length;
      const sortShown = Boolean(q);
      q = text;
      if (!sortShown) drawChips(); // "relevance" joins the sorts once there are words
      results.replaceChildren(
        h("p", { class: "hint count" }, t("app.results", { count: found.total })),
        found.items.length ? productGrid(found.items, refreshMain)
          : h("div", {}, emptyState("search", t("app.no_results")), await popularInstead()));
      history.replaceState(history.state, "", `#/search?q=${encodeURIComponent(q)}${sort ? `&sort=${sort}` : ""}`);
    } catch { /* the next key press tries again */ }
  };
  const input = h("input", {
    type: "search", class: "search-input", placeholder: t("app.search_placeholder"), value: q,
    enterkeyhint: "search", autocomplete: "off", "aria-label": t("app.search"),
  });
  const form = h("form", { class: "search", role: "search" }, icon("search", "search-icon"), input);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    input.blur();
    q = input.value.trim();
    rememberQuery(q);
    run();
  });
  input.addEventListener("input", debounce(() => {
    if (!input.value.trim()) { q = ""; drawChips(); run(); return; }
    suggest(input.value);
  }, 250));
  if (!q && !onSale && !sort) setTimeout(() => input.focus(), 50);
  const chips = h("div", { class: "sticky-sort" });
  const drawChips = () => chips.replaceChildren(withFilters(
    sortChips(sort || (q ? "relevance" : "popular"), (next) => {
      sort = next === "relevance" ? null : next; drawChips(); run();
    }, Boolean(q)),
    filterButton(filters, (f) => {
      for (const key of FILTER_KEYS) delete filters[key];
      Object.assign(filters, f);
      drawChips();
      run();
    })));
  drawChips();
  setCartMain();
  if (q) rememberQuery(q);
  await run();
  return h("div", { class: "page search-page" },
    h("div", { class: "topbar" }, form),
    suggestions,
    onSale ? pageHeader(t("app.on_sale")) : null,
    chips,
    recent,
    results,
  );
}

// --- product ---

function zoom(p) {
  const img = h("img", { src: p.image_url, alt: p.name });
  const close = () => { root.remove(); document.removeEventListener("keydown", onKey); };
  const onKey = (event) => { if (event.key === "Escape") close(); };
  const root = h("div", { class: "zoom", role: "dialog", "aria-modal": "true", "aria-label": p.name, onclick: close },
    img, h("button", { type: "button", class: "zoom-close", "aria-label": t("app.close") }, "×"));
  document.addEventListener("keydown", onKey);
  document.body.append(root);
}

export async function product(params) {
  const p = await get(`/api/products/${params.id}`);
  const max = Math.min(p.stock_quantity, 999);
  // The card is the same for everyone (served from the server's cache); what is the customer's own
  // (favourite, in the cart) the app already holds since start-up.
  let favorite = state.favorites.has(p.id);

  const fav = h("button", {
    type: "button", class: favorite ? "fav on" : "fav", "aria-pressed": String(favorite),
    "aria-label": t(favorite ? "app.favorite_remove" : "app.favorite_add"),
  }, icon("heart"));
  fav.addEventListener("click", async () => {
    try {
      const next = !favorite;
      await api(next ? "PUT" : "DELETE", `/api/favorites/${p.id}`);
      favorite = next;
      if (favorite) state.favorites.add(p.id); else state.favorites.delete(p.id);
      forget("/api/favorites");
      fav.classList.toggle("on", favorite);
      fav.setAttribute("aria-pressed", String(favorite));
      fav.setAttribute("aria-label", t(favorite ? "app.favorite_remove" : "app.favorite_add"));
      tg.haptic("light");
    } catch (error) {
      showError(error);
    }
  });

  const soldOut = p.stock_state === "out_of_stock";
  // The in-page stepper changes the cart at once, like the cards do; the MainButton is the one
  // primary action: "add to cart · price" until it is in the cart, then "go to cart · total".
  const inCartNote = h("p", { class: "hint in-cart" });
  const qty = stepper(Math.max(1, cartQuantity(p.id)), max, (next) => wantQuantity(p.id, next), { label: p.name });
  const buyRow = h("div", { class: "buy-row" }, h("span", { class: "label" }, t("app.quantity")), qty);
  const draw = () => {
    const inCart = cartQuantity(p.id);
    buyRow.hidden = soldOut || inCart === 0;
    qty.setValue(inCart);
    inCartNote.textContent = inCart ? t("app.in_cart", { count: inCart }) : "";
    if (soldOut && !inCart) setMain(null);
    else if (inCart) {
      setMain({ text: t("app.go_to_cart", { total: state.cart ? state.cart.total_text : "" }), onClick: () => navigate("/cart") });
    } else {
      setMain({ text: t("app.add_to_cart_price", { price: p.price_text }), onClick: () => {
        wantQuantity(p.id, 1);
        tg.haptic("success");
      } });
    }
  };
  draw();
  const root = h("div", { class: "page product-page" },
    h("div", { class: "hero" },
      h("button", { type: "button", class: "hero-zoom", "aria-label": t("app.zoom"), onclick: () => p.has_image && zoom(p) },
        productImage(p, "hero-img", { eager: true, size: 800 })),
      p.discount_percent ? h("span", { class: "badge-sale" }, t("app.discount", { percent: p.discount_percent })) : null,
      fav),
    h("section", { class: "section" },
      priceBlock(p, true),
      h("h1", { class: "product-name" }, p.name),
      stockLabel(p),
      buyRow,
      inCartNote),
    p.description ? h("section", { class: "section" }, h("h2", { class: "section-label" }, t("app.description")),
      h("p", { class: "description" }, p.description)) : null,
    h("section", { class: "section meta" },
      h("div", { class: "row" }, h("span", {}, t("app.sku")), h("span", { class: "mono" }, p.sku)),
      p.category ? h("button", { type: "button", class: "row link", onclick: () => navigate(`/c/${p.category.id}`) },
        h("span", {}, t("app.categories")), h("span", {}, p.category.name, icon("chevron", "icon small"))) : null),
  );
  followCart(root, p.id, () => { if (root.isConnected) draw(); });
  rememberViewed(p.id);
  const base = state.me && state.me.share_base;
  if (base) {
    // Telegram's share sheet with a deep link that opens this product (start_param p_<id>).
    const link = `${base}?startapp=p_${p.id}`;
    root.querySelector(".hero").append(h("button", {
      type: "button", class: "share", "aria-label": t("app.share"),
      onclick: () => tg.openTelegramLink(`https://t.me/share/url?url=${encodeURIComponent(link)}&text=${encodeURIComponent(p.name)}`),
    }, icon("share")));
  }
  return root;
}

// Recently viewed products (this device only), newest first, on the home screen.
const VIEWED = "amazing-store:viewed";

function viewedIds() {
  try { return JSON.parse(localStorage.getItem(VIEWED) || "[]").filter((id) => Number.isInteger(id)); } catch { return []; }
}

function rememberViewed(id) {
  try { localStorage.setItem(VIEWED, JSON.stringify([id, ...viewedIds().filter((x) => x !== id)].slice(0, 10))); } catch { /* private mode */ }
}

async function recentlyViewed() {
  const ids = viewedIds().slice(0, 6);
  if (!ids.length) return [];
  const found = await Promise.all(ids.map((id) => get(`/api/products/${id}`).catch(() => null)));
  return found.filter((p) => p && p.stock_state !== undefined);
}

// --- favorites ---

export async function favorites() {
  const data = await get("/api/favorites");
  setCartMain();
  return h("div", { class: "page" },
    pageHeader(t("app.favorites")),
    data.items.length ? productGrid(data.items, () => setCartMain())
      : emptyState("heart", t("app.favorites_empty"), h("a", { class: "btn", href: "#/" }, t("app.start_shopping"))),
  );
}

// --- cart ---

// One line of the cart; its quantity follows every tap at once and its total the server's answer.
function cartLine(line) {
  const p = line.product;
  const flags = h("div", { class: "flags" });
  const total = h("span", { class: "line-total money" });
  const max = () => Math.min(Math.max(line.available, 0), 999);
  const control = line.unavailable ? null
    : stepper(line.quantity, Math.max(max(), line.quantity), (next) => wantQuantity(p.id, Math.min(next, Math.max(max(), 0))),
      { compact: true, label: p.name });
  const root = h("div", { class: "line", "data-line": p.id },
    h("button", { type: "button", class: "thumb-link", "aria-label": p.name, onclick: () => navigate(`/p/${p.id}`) },
      productImage(p, "thumb", { size: 120 })),
    h("div", { class: "line-body" },
      h("div", { class: "line-name" }, p.name),
      h("div", { class: "line-price" }, h("span", { class: "money" }, p.price_text), total),
      flags,
      h("div", { class: "line-foot" },
        control,
        h("button", {
          type: "button", class: "icon-btn remove", "aria-label": `${t("app.remove")}: ${p.name}`,
          onclick: () => wantQuantity(p.id, 0),
        }, icon("trash")))));
  root.update = (fresh) => {
    if (fresh) line = fresh;
    const quantity = cartQuantity(p.id);
    if (control) { control.setMax(Math.max(max(), quantity)); control.setValue(quantity); }
    const waiting = pendingCart() && quantity !== line.quantity;
    total.textContent = line.unavailable ? "" : waiting ? money(Number(line.price) * quantity) : line.line_total_text;
    const list = [];
    if (line.unavailable) list.push(h("span", { class: "flag bad" }, t("app.line_unavailable")));
    else if (line.insufficient) list.push(h("span", { class: "flag bad" }, t("app.line_insufficient", { count: line.available })));
    if (line.price_changed) list.push(h("span", { class: "flag warn" }, t("app.line_price_changed", { old: line.old_price_text })));
    flags.replaceChildren(...list);
    flags.hidden = !list.length;
    root.classList.toggle("flagged", Boolean(line.unavailable || line.insufficient));
  };
  root.update();
  return root;
}

function summary(cart) {
  const fee = Number(cart.delivery_fee);
  return h("section", { class: "section summary" },
    h("div", { class: "row" }, h("span", {}, t("app.subtotal")), h("span", { class: "money" }, cart.subtotal_text)),
    h("div", { class: "row" }, h("span", {}, t("app.delivery")),
      h("span", { class: fee === 0 ? "free money" : "money" }, fee === 0 ? t("app.delivery_free") : cart.delivery_fee_text)),
    fee > 0 ? h("p", { class: "hint" }, t("app.free_delivery_hint", { amount: cart.free_delivery_from_text })) : null,
    h("div", { class: "row total" }, h("span", {}, t("app.total")), h("span", { class: "money" }, cart.total_text)));
}

function emptyCart() {
  setMain(null);
  return h("div", { class: "page cart-empty" }, pageHeader(t("app.cart")),
    emptyState("cart", t("app.cart_empty"), h("div", {}, h("p", { class: "hint" }, t("app.cart_empty_hint")),
      h("a", { class: "btn", href: "#/" }, t("app.start_shopping")))));
}

export async function cart(params, query, rerender) {
  // The cart known from start-up (or the last change) draws at once; the server's copy follows.
  const known = Boolean(state.cart) && !pendingCart();
  const data0 = known ? state.cart : await loadCart();
  let data = data0;
  let root = null;
  let empty = null;
  if (known) {
    const before = JSON.stringify(state.cart);
    loadCart().then((fresh) => {
      if (pendingCart() || JSON.stringify(fresh) === before) return;
      if (root && root.isConnected) redraw(null);
      else if (empty && empty.isConnected) rerender();
    }).catch(() => {});
  }
  if (!data.lines.length && !cartUnits()) { empty = emptyCart(); return empty; }
  const header = h("p", { class: "sub" });
  const lines = h("section", { class: "section lines" });
  const notice = h("p", { class: "notice bad" }, icon("alert", "icon small"), t("app.fix_cart"));
  const summaryHolder = h("div", {});
  root = h("div", { class: "page cart-page keep-live" },
    h("header", { class: "page-head" }, h("h1", {}, t("app.cart")), header), lines, notice, summaryHolder);
  const byId = new Map();
  let stop = null;
  const checkout = async () => {
    mainProgress(true);
    const settled = await cartSettled();
    mainProgress(false);
    if (settled.can_checkout && settled.lines.length) navigate("/checkout");
  };
  function redraw(changed) {
    data = state.cart;
    if (!root.isConnected && root.dataset.shown) { if (stop) stop(); return; }
    const units = cartUnits();
    if (!units && !pendingCart()) { root.replaceWith(emptyCart()); return; }
    header.textContent = t("app.items_count", { count: units });
    const alive = new Set();
    for (const line of data.lines) {
      alive.add(line.product.id);
      let el = byId.get(line.product.id);
      if (!el) { el = cartLine(line); byId.set(line.product.id, el); lines.append(el); }
      if (changed === null || changed === line.product.id) el.update(line);
    }
    // A line taken out (0) leaves at once; one the server dropped too.
    for (const [id, el] of byId) {
      if (!alive.has(id) || cartQuantity(id) === 0) { el.remove(); byId.delete(id); }
    }
    notice.hidden = data.can_checkout;
    if (!pendingCart()) summaryHolder.replaceChildren(summary(data));
    setMain({ text: t("app.checkout", { total: pendingCart() ? "…" : data.total_text }), enabled: data.can_checkout, onClick: checkout });
  }
  redraw(null);
  root.dataset.shown = "1";
  stop = onCartChange((changed) => redraw(changed));
  return root;
}

// --- checkout ---

// A line of an order: thumbnail, the name (cut when long), "× 3" that is never cut, the money.
function orderLine(product, name, quantity, totalText) {
  return h("div", { class: "order-line" },
    product ? productImage(product, "thumb small", { size: 120 }) : null,
    h("span", { class: "ol-name" }, name),
    h("span", { class: "ol-qty" }, `× ${quantity}`),
    h("span", { class: "money" }, totalText));
}

const PHONE = /^(?:\+?998)?[2-9]\d{8}$/;
const KEY_STORE = "amazing-store:checkout-key";

function field(name, label, input, hintText) {
  const error = h("p", { class: "field-error", "data-error-for": name, hidden: true });
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), input,
    hintText ? h("span", { class: "field-hint" }, hintText) : null, error);
}

export async function checkout() {
  await cartSettled();
  const [data, me] = await Promise.all([loadCart(), api("GET", "/api/me")]);
  state.me = me;
  if (!data.lines.length) {
    navigate("/cart", { replace: true });
    return h("div");
  }
  const saved = (() => { try { return JSON.parse(localStorage.getItem("amazing-store:address") || "{}"); } catch { return {}; } })();
  const inputs = {
    customer_name: h("input", { name: "customer_name", autocomplete: "name", maxlength: "255",
      value: [me.first_name, me.last_name].filter(Boolean).join(" ") }),
    customer_phone: h("input", { name: "customer_phone", type: "tel", inputmode: "tel", autocomplete: "tel",
      placeholder: "+998 90 123 45 67", maxlength: "32", value: me.phone || "" }),
    delivery_address: h("textarea", { name: "delivery_address", rows: "2", maxlength: "500",
      placeholder: t("app.address_placeholder"), autocomplete: "street-address" }),
    delivery_notes: h("textarea", { name: "delivery_notes", rows: "2", maxlength: "500", placeholder: t("app.notes_placeholder") }),
  };
  inputs.delivery_address.value = saved.address || "";
  const methods = (me.payment_methods || ["cash"]).filter((m) => m !== "telegram" || tg.canOpenInvoice());
  let method = methods.includes(saved.payment_method) ? saved.payment_method : "cash";
  const methodNote = h("p", { class: "hint center payment-note" });
  const showMethodNote = () => { methodNote.textContent = method === "cash" ? t("app.payment_note") : ""; methodNote.hidden = method !== "cash"; };
  const methodButtons = methods.map((name) => h("button", {
    type: "button", class: "chip payment-method", "data-method": name, "aria-pressed": String(name === method),
    onclick: () => {
      method = name;
      for (const b of methodButtons) b.setAttribute("aria-pressed", String(b.dataset.method === method));
      showMethodNote();
      tg.haptic("select");
    },
  }, t(`payment.method.${name}`)));
  showMethodNote();
  const methodSection = methods.length > 1
    ? h("section", { class: "section form" }, h("h2", { class: "section-label" }, t("payment.choose")),
      h("div", { class: "chips payment-methods" }, methodButtons))
    : null;
  const notice = h("p", { class: "notice warn", hidden: true });
  const orderLines = (cart) => h("section", { class: "section" }, h("h2", { class: "section-label" }, t("app.your_order")),
    cart.lines.map((line) => orderLine(line.product, line.product.name, line.quantity, line.line_total_text)));
  const linesHolder = h("div", {}, orderLines(data));
  const summaryHolder = h("div", {}, summary(data));
  const form = h("form", { class: "page checkout-page", novalidate: true },
    pageHeader(t("app.checkout_title")),
    h("section", { class: "section form" }, h("h2", { class: "section-label" }, t("app.contact")),
      field("customer_name", t("app.name"), inputs.customer_name),
      field("customer_phone", t("app.phone"), inputs.customer_phone),
      !me.phone && tg.canRequestPhone() ? h("button", {
        type: "button", class: "link-btn share-phone",
        onclick: async () => {
          const phone = await tg.requestPhone();
          if (phone) inputs.customer_phone.value = phone.startsWith("+") ? phone : `+${phone}`;
        },
      }, t("app.share_phone")) : null),
    h("section", { class: "section form" }, h("h2", { class: "section-label" }, t("app.delivery")),
      field("delivery_address", t("app.address"), inputs.delivery_address),
      field("delivery_notes", t("app.notes"), inputs.delivery_notes)),
    notice,
    methodSection,
    linesHolder,
    summaryHolder,
    methodNote,
  );

  const showFieldErrors = (fields) => {
    for (const el of form.querySelectorAll("[data-error-for]")) {
      const message = fields && fields[el.dataset.errorFor];
      el.textContent = message || "";
      el.hidden = !message;
      const input = inputs[el.dataset.errorFor];
      if (input) input.classList.toggle("invalid", Boolean(message));
    }
  };
  const localCheck = () => {
    const fields = {};
    if (inputs.customer_name.value.trim().length < 2) fields.customer_name = t("error.field_required");
    if (!PHONE.test(inputs.customer_phone.value.replace(/[\s\-().]/g, ""))) fields.customer_phone = t("error.phone_invalid");
    if (inputs.delivery_address.value.trim().length < 5) fields.delivery_address = t("error.field_required");
    return fields;
  };
  // One key per attempt to order this cart: a retry after a lost answer must not order twice.
  const key = () => {
    let value = sessionStorage.getItem(KEY_STORE);
    if (!value) { value = newIdempotencyKey(); sessionStorage.setItem(KEY_STORE, value); }
    return value;
  };
  let busy = false;
  const place = async () => {
    if (busy) return;
    const problems = localCheck();
    showFieldErrors(problems);
    if (Object.keys(problems).length) {
      tg.haptic("error");
      form.querySelector(".invalid")?.focus();
      return;
    }
    busy = true;
    mainProgress(true);
    const body = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, input.value.trim() || null]));
    if (method !== "cash") body.payment_method = method;
    try {
      const order = await api("POST", "/api/orders", body, { "Idempotency-Key": key() });
      sessionStorage.removeItem(KEY_STORE);
      try {
        localStorage.setItem("amazing-store:address", JSON.stringify({ address: body.delivery_address, payment_method: method }));
      } catch { /* private mode */ }
      setCart({ ...state.cart, lines: [] });
      forget("/api/orders");
      tg.haptic("success");
      if (order.payment && order.payment.url) {
        navigate(`/orders/${encodeURIComponent(order.order_number)}`, { replace: true });
        openPayment(order.payment);
        return;
      }
      navigate(`/placed/${encodeURIComponent(order.order_number)}`, { replace: true });
    } catch (error) {
      mainProgress(false);
      tg.haptic("error");
      if (error instanceof ApiError && error.status === 400 && error.fields) {
        showFieldErrors(error.fields);
        toast(error.message, "error");
      } else if (error instanceof ApiError && error.status === 409 && error.data.cart) {
        sessionStorage.removeItem(KEY_STORE); // the cart changed: a new attempt, a new key
        setCart(error.data.cart);
        if (error.code === "price_changed") {
          // The cart now holds today's prices; pressing the button again confirms them.
          notice.textContent = error.message;
          notice.hidden = false;
          linesHolder.replaceChildren(orderLines(error.data.cart));
          summaryHolder.replaceChildren(summary(error.data.cart));
          setMain({ text: t("app.place_order", { total: error.data.cart.total_text }), onClick: place });
          notice.scrollIntoView({ behavior: "smooth", block: "center" });
        } else {
          toast(error.message, "error");
          navigate("/cart", { replace: true });
        }
      } else {
        toast(error.message, "error");
      }
    } finally {
      busy = false;
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); place(); });
  setMain({ text: t("app.place_order", { total: data.total_text }), onClick: place, enabled: data.can_checkout });
  return form;
}

// --- after the order ---

export async function placed(params) {
  setMain(null);
  const number = params.number;
  return h("div", { class: "page placed" },
    h("div", { class: "done-mark" }, icon("check", "done-icon")),
    h("h1", {}, t("app.order_placed_title")),
    h("p", { class: "sub" }, t("app.order_placed_text", { number })),
    h("div", { class: "stack" },
      h("a", { class: "btn wide", href: `#/orders/${encodeURIComponent(number)}` }, t("app.view_order")),
      h("a", { class: "btn ghost wide", href: "#/" }, t("app.continue_shopping"))),
  );
}

// --- orders ---

export async function orders() {
  setMain(null);
  const data = await get("/api/orders");
  if (!data.items.length) {
    return h("div", { class: "page" }, pageHeader(t("app.my_orders")),
      emptyState("box", t("app.orders_empty"), h("a", { class: "btn", href: "#/" }, t("app.start_shopping"))));
  }
  return h("div", { class: "page orders-page" },
    pageHeader(t("app.my_orders")),
    data.items.map((order) => {
      const shown = order.items.slice(0, 3);
      const hidden = order.items.length - shown.length;
      return h("button", {
        type: "button", class: "section order-card", "data-order": order.order_number,
        onclick: () => navigate(`/orders/${encodeURIComponent(order.order_number)}`),
      },
      h("div", { class: "row" }, h("strong", { class: "mono" }, order.order_number), statusPill(order)),
      h("div", { class: "row hint" }, h("span", {}, formatDate(order.created_at)),
        h("span", {}, t("app.items_count", { count: order.item_count }))),
      h("div", { class: "thumbs" }, shown.map((item) => item.product
        ? productImage({ ...item.product, name: item.name }, "thumb small", { size: 120 }) : null),
      hidden > 0 ? h("span", { class: "more-items" }, t("app.more_items", { count: hidden })) : null),
      h("div", { class: "row total" }, h("span", {}, order.payment ? order.payment.state_text : t("app.total")),
        h("span", { class: "money" }, order.total_text)));
    }),
  );
}

// Placed, confirmed, on its way, delivered (or cancelled), each with its time where it is known.
function timeline(o) {
  const steps = o.status === "cancelled"
    ? [["pending", o.created_at], ["cancelled", o.cancelled_at]]
    : [["pending", o.created_at], ["confirmed", o.confirmed_at], ["shipped", null], ["delivered", o.delivered_at]];
  const order = ["pending", "confirmed", "shipped", "delivered"];
  const reached = (name) => o.status === "cancelled" || order.indexOf(name) <= order.indexOf(o.status);
  return h("ol", { class: "timeline" }, steps.map(([name, at]) => h("li", { class: reached(name) ? "done" : "" },
    h("span", { class: "dot", "aria-hidden": "true" }),
    h("span", { class: "tl-name" }, t(name === "pending" ? "app.timeline.placed" : `order.status.${name}`)),
    at ? h("span", { class: "tl-time" }, formatDate(at)) : null)));
}

// Put the order's still available items back in the cart; says what could not come back.
async function reorder(o) {
  const missing = [];
  for (const item of o.items) {
    if (!item.product_id) { missing.push(item.name); continue; }
    try {
      setCart(await api("PUT", `/api/cart/items/${item.product_id}`, { quantity: cartQuantity(item.product_id) + item.quantity }));
    } catch {
      missing.push(item.name);
    }
  }
  if (missing.length) toast(t("app.reorder_missing", { names: missing.join(", ") }), "error");
  else { tg.haptic("success"); toast(t("app.reorder_done"), "success"); }
  if (missing.length < o.items.length) navigate("/cart");
}

function contactShop() {
  const contact = state.me && state.me.shop_contact;
  if (!contact) return null;
  return h("button", { type: "button", class: "btn ghost wide contact-shop", onclick: () => {
    if (contact.telegram) tg.openTelegramLink(`https://t.me/${contact.telegram}`);
    else if (contact.phone) location.href = `tel:${contact.phone}`;
  } }, t("app.contact_shop"));
}

// --- online payment ---

// Open where to pay: a Telegram invoice inside Telegram, a payment page (Payme, Click) otherwise.
// The order screen follows the order until it is paid.
function openPayment(payment) {
  if (payment.method === "telegram") {
    const opened = tg.openInvoice(payment.url, (status) => {
      if (status === "paid") toast(t("payment.waiting"), "success");
      else if (status === "failed") toast(t("error.payment_link_failed"), "error");
      window.dispatchEvent(new CustomEvent("payment-closed", { detail: status }));
    });
    if (!opened) tg.openLink(payment.url);
    return;
  }
  tg.openPayment(payment.url);
}

const PAYMENT_POLL_MS = 3000;

function paymentSection(o) {
  const p = o.payment;
  const rows = [h("div", { class: "row" }, h("span", {}, t("app.payment")),
    h("span", { class: `payment-state state-${p ? p.state : "none"}` }, p ? p.state_text : o.payment_status_text))];
  // Cash's state already says how it is paid ("cash on delivery"): the method line is for online payments.
  if (p && p.method !== "cash") rows.push(h("div", { class: "row small hint" }, h("span", {}, p.method_text),
    p.payable && p.expires_at ? h("span", {}, t("payment.pay_until", { time: formatDate(p.expires_at) })) : null));
  return h("section", { class: "section payment-section" }, rows);
}

export async function order(params) {
  setMain(null);
  const o = await get(`/api/orders/${encodeURIComponent(params.number)}`);
  const cancel = o.can_cancel ? h("button", { type: "button", class: "btn danger-ghost wide cancel-order" }, t("app.cancel_order")) : null;
  const payable = o.payment && o.payment.payable;
  const pay = payable ? h("button", { type: "button", class: "btn wide pay-order" }, t("payment.pay")) : null;
  const root = h("div", { class: "page order-page" },
    pageHeader(o.order_number, formatDate(o.created_at)),
    h("section", { class: "section" },
      h("div", { class: "row" }, h("span", {}, t("app.status")), statusPill(o)),
      timeline(o)),
    paymentSection(o),
    pay,
    h("section", { class: "section" }, h("h2", { class: "section-label" }, t("app.your_order")),
      o.items.map((item) => orderLine(item.product ? { ...item.product, name: item.name } : null, item.name, item.quantity, item.subtotal_text))),
    h("section", { class: "section summary" },
      h("div", { class: "row" }, h("span", {}, t("app.subtotal")), h("span", { class: "money" }, o.subtotal_text)),
      h("div", { class: "row" }, h("span", {}, t("app.delivery")),
        h("span", { class: "money" }, Number(o.delivery_fee) === 0 ? t("app.delivery_free") : o.delivery_fee_text)),
      h("div", { class: "row total" }, h("span", {}, t("app.total")), h("span", { class: "money" }, o.total_text))),
    h("section", { class: "section" }, h("h2", { class: "section-label" }, t("app.delivery")),
      h("p", {}, o.customer_name, " · ", h("span", { class: "phone" }, formatPhone(o.customer_phone))),
      h("p", { class: "hint" }, o.delivery_address || ""),
      o.delivery_notes ? h("p", { class: "hint" }, o.delivery_notes) : null),
    h("div", { class: "stack" },
      h("button", { type: "button", class: "btn ghost wide reorder", onclick: () => reorder(o) }, t("app.reorder")),
      contactShop(),
      cancel),
  );
  if (pay) {
    pay.addEventListener("click", async () => {
      pay.disabled = true;
      try {
        const fresh = await api("POST", `/api/orders/${encodeURIComponent(o.order_number)}/pay`);
        if (fresh.payment && fresh.payment.url) openPayment(fresh.payment);
      } catch (error) {
        showError(error);
      } finally {
        pay.disabled = false;
      }
    });
    // Follow the order while it awaits payment: the payment lands on the server, not here.
    let timer = 0;
    const follow = async () => {
      clearTimeout(timer);
      if (!root.isConnected) return;
      try {
        const now = await api("GET", `/api/orders/${encodeURIComponent(o.order_number)}`);
        remember(`/api/orders/${encodeURIComponent(o.order_number)}`, now);
        if (!root.isConnected) return;
        if (!now.payment || now.payment.state !== o.payment.state || now.status !== o.status) {
          if (now.payment_status === "paid") { tg.haptic("success"); toast(t("payment.state.paid"), "success"); }
          navigate(`/orders/${encodeURIComponent(o.order_number)}`, { replace: true });
          return;
        }
      } catch { /* offline for a moment: try again */ }
      timer = setTimeout(follow, PAYMENT_POLL_MS);
    };
    timer = setTimeout(follow, PAYMENT_POLL_MS);
    window.addEventListener("payment-closed", () => { if (root.isConnected) follow(); }, { once: true });
  }
  if (cancel) {
    cancel.addEventListener("click", async () => {
      const sure = await confirmSheet({ text: t("app.cancel_confirm"), ok: t("app.cancel_order_yes"), cancel: t("app.cancel_order_no") });
      if (!sure) return;
      cancel.disabled = true;
      try {
        await api("POST", `/api/orders/${encodeURIComponent(o.order_number)}/cancel`);
        tg.haptic("success");
        toast(t("app.order_cancelled"), "success");
        forget("/api/orders");
        navigate(`/orders/${encodeURIComponent(o.order_number)}`, { replace: true });
      } catch (error) {
        cancel.disabled = false;
        showError(error);
      }
    });
  }
  return root;
}

export async function notFound() {
  setMain(null);
  return h("div", { class: "page" }, emptyState("search", t("app.not_found"),
    h("a", { class: "btn", href: "#/" }, t("app.home"))));
}
