// Pieces several screens share: product cards, the quantity stepper, prices, empty states.

import { api, forget } from "./api.js";
import { cartQuantity, navigate, onCartChange, showError, state, wantQuantity } from "./ctx.js";
import { h, icon } from "./dom.js";
import { t } from "./i18n.js";

// A photo with its box sized before it loads (no layout shift), loaded when near the screen; a dead
// link turns into the same calm placeholder as a product without a photo.
export function productImage(product, cls = "pimg", { eager = false, size = 400 } = {}) {
  const hue = (product.id * 47) % 360;
  const placeholder = () => h("div", { class: `${cls} placeholder`, style: { "--hue": String(hue) } }, icon("bag", "ph-icon"));
  if (!product.has_image) return placeholder(); // no photo yet: a tile tinted per product
  const src = (size <= 200 && product.thumb_url) || product.image_url;
  const img = h("img", { src, alt: product.name || "", width: String(size), height: String(size),
    loading: eager ? "eager" : "lazy", decoding: "async" });
  const box = h("div", { class: cls }, img);
  img.addEventListener("error", () => box.replaceWith(placeholder()), { once: true });
  return box;
}

export function priceBlock(product, big = false) {
  return h("div", { class: big ? "price big" : "price" },
    h("span", { class: "now" }, product.price_text),
    product.old_price_text ? h("s", { class: "old" }, product.old_price_text) : null,
  );
}

export function stockLabel(product) {
  if (product.stock_state === "out_of_stock") return h("span", { class: "stock out" }, t("app.out_of_stock"));
  if (product.stock_state === "low") {
    return h("span", { class: "stock low" }, t("app.few_left", { count: product.stock_quantity }));
  }
  return h("span", { class: "stock ok" }, t("app.in_stock"));
}

// − value +: every tap counts at once (the cart sends the latest wanted quantity, see ctx.js).
export function stepper(value, max, onChange, { compact = false, label = "" } = {}) {
  const shown = h("span", { class: "value", "aria-live": "polite" }, String(value));
  const minus = h("button", { type: "button", class: "step minus", "aria-label": `${label} −`.trim() }, icon("minus"));
  const plus = h("button", { type: "button", class: "step plus", "aria-label": `${label} +`.trim() }, icon("plus"));
  let current = value;
  const refresh = () => {
    shown.textContent = String(current);
    plus.disabled = current >= max;
  };
  minus.addEventListener("click", (event) => { event.stopPropagation(); onChange(current - 1); });
  plus.addEventListener("click", (event) => { event.stopPropagation(); if (current < max) onChange(current + 1); });
  const root = h("div", { class: compact ? "stepper compact" : "stepper", onclick: (event) => event.stopPropagation() }, minus, shown, plus);
  root.setValue = (next) => { current = next; refresh(); };
  root.setMax = (next) => { max = next; refresh(); };
  refresh();
  return root;
}

// Redraw `el` whenever the cart changes `productId` (or everything), while `el` is on the screen.
export function followCart(el, productId, draw) {
  const stop = onCartChange((changed) => {
    if (!el.isConnected && el.dataset.drawn) { stop(); return; }
    if (changed === null || changed === productId) draw();
  });
  el.dataset.drawn = "1";
}

// The buy control on a card: "+" until the product is in the cart, then a stepper.
function cardBuy(product, onCartChange) {
  const slot = h("div", { class: "buy" });
  const max = Math.min(product.stock_quantity, 999);
  let shownStepper = null;
  const draw = () => {
    const inCart = cartQuantity(product.id);
    if (product.stock_state === "out_of_stock") {
      slot.replaceChildren(); // the stock line already says "Tugagan"; once is enough
    } else if (inCart > 0) {
      if (!shownStepper) {
        shownStepper = stepper(inCart, max, (next) => { wantQuantity(product.id, next); onCartChange && onCartChange(); },
          { compact: true, label: product.name });
        slot.replaceChildren(shownStepper);
      }
      shownStepper.setValue(inCart);
    } else {
      shownStepper = null;
      slot.replaceChildren(h("button", {
        type: "button", class: "btn small add", "data-add": product.id, "aria-label": `${t("app.add_to_cart")}: ${product.name}`,
        onclick: (event) => {
          event.stopPropagation();
          wantQuantity(product.id, 1);
          onCartChange && onCartChange();
        },
      }, icon("plus", "icon small"), h("span", {}, t("app.add_short"))));
    }
  };
  draw();
  followCart(slot, product.id, draw);
  return slot;
}

export function productCard(product, onCartChange) {
  const open = () => navigate(`/p/${product.id}`);
  return h("article", {
    class: product.stock_state === "out_of_stock" ? "card sold-out" : "card", "data-product": product.id,
    tabindex: "0", role: "link", "aria-label": `${product.name}, ${product.price_text}`,
    onclick: open,
    onkeydown: (event) => { if ((event.key === "Enter" || event.key === " ") && event.target === event.currentTarget) { event.preventDefault(); open(); } },
  },
  h("div", { class: "media" },
    productImage(product, "pimg", { size: 200 }),
    cardHeart(product),
    product.discount_percent ? h("span", { class: "badge-sale" }, t("app.discount", { percent: product.discount_percent })) : null,
  ),
  h("div", { class: "body" },
    priceBlock(product),
    h("div", { class: "name" }, product.name),
    stockLabel(product),
    cardBuy(product, onCartChange),
  ));
}

// The heart on a card: favourite or not, at once; the server's answer confirms (or undoes) it.
export function cardHeart(product) {
  const on = () => state.favorites.has(product.id);
  const button = h("button", { type: "button", class: "card-fav" }, icon("heart"));
  const draw = () => {
    button.classList.toggle("on", on());
    button.setAttribute("aria-pressed", String(on()));
    button.setAttribute("aria-label", `${t(on() ? "app.favorite_remove" : "app.favorite_add")}: ${product.name}`);
  };
  button.addEventListener("click", async (event) => {
    event.stopPropagation();
    const next = !on();
    if (next) state.favorites.add(product.id); else state.favorites.delete(product.id);
    draw();
    try {
      await api(next ? "PUT" : "DELETE", `/api/favorites/${product.id}`);
      forget("/api/favorites");
      forget(`/api/products/${product.id}`);
    } catch (error) {
      if (next) state.favorites.delete(product.id); else state.favorites.add(product.id);
      draw();
      showError(error);
    }
  });
  draw();
  return button;
}

export function productGrid(products, onCartChange) {
  return h("div", { class: "grid" }, products.map((p) => productCard(p, onCartChange)));
}

export function shelf(products, onCartChange) {
  return h("div", { class: "shelf" }, products.map((p) => productCard(p, onCartChange)));
}

export function sectionTitle(text, action) {
  return h("div", { class: "section-head" }, h("h2", {}, text), action || null);
}

export function emptyState(iconName, text, action) {
  return h("div", { class: "empty" }, icon(iconName, "empty-icon"), h("p", {}, text), action || null);
}

export function statusPill(order) {
  return h("span", { class: `pill status-${order.status}` }, order.status_text);
}

export function pageHeader(title, subtitle) {
  return h("header", { class: "page-head" },
    h("h1", {}, title),
    subtitle ? h("p", { class: "sub" }, subtitle) : null,
  );
}
