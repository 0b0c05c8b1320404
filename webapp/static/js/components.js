// Pieces several screens share: product cards, the quantity stepper, prices, empty states.

import { cartQuantity, changeCart, navigate } from "./ctx.js";
import { h, icon } from "./dom.js";
import { t } from "./i18n.js";

export function productImage(product, cls = "pimg") {
  if (product.has_image) {
    // lists and the cart show the thumbnail; the product page (hero) the web-sized copy
    const src = cls === "hero-img" ? product.image_url : (product.thumb_url || product.image_url);
    return h("div", { class: cls }, h("img", { src, alt: "", loading: "lazy" }));
  }
  // No photo yet: a calm tile tinted per product, so a shelf of them is not a wall of grey.
  const hue = (product.id * 47) % 360;
  return h("div", { class: `${cls} placeholder`, style: { "--hue": String(hue) } }, icon("bag", "ph-icon"));
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

export function stepper(value, max, onChange, { compact = false } = {}) {
  const label = h("span", { class: "value" }, String(value));
  const minus = h("button", { type: "button", class: "step", "aria-label": "-" }, icon("minus"));
  const plus = h("button", { type: "button", class: "step", "aria-label": "+" }, icon("plus"));
  let current = value;
  const refresh = () => {
    label.textContent = String(current);
    plus.disabled = current >= max;
  };
  minus.addEventListener("click", (event) => { event.stopPropagation(); onChange(current - 1); });
  plus.addEventListener("click", (event) => { event.stopPropagation(); if (current < max) onChange(current + 1); });
  const root = h("div", { class: compact ? "stepper compact" : "stepper" }, minus, label, plus);
  root.setValue = (next) => { current = next; refresh(); };
  refresh();
  return root;
}

// The buy control on a card: "+" until the product is in the cart, then a stepper.
function cardBuy(product, onCartChange) {
  const slot = h("div", { class: "buy" });
  const draw = () => {
    slot.replaceChildren();
    const inCart = cartQuantity(product.id);
    const max = Math.min(product.stock_quantity, 999);
    if (product.stock_state === "out_of_stock") {
      slot.append(h("button", { type: "button", class: "btn small ghost", disabled: true }, t("app.out_of_stock")));
    } else if (inCart > 0) {
      slot.append(stepper(inCart, max, async (next) => {
        if (await changeCart(product.id, Math.max(0, next))) { draw(); onCartChange && onCartChange(); }
      }, { compact: true }));
    } else {
      slot.append(h("button", {
        type: "button", class: "btn small", "data-add": product.id,
        onclick: async (event) => {
          event.stopPropagation();
          if (await changeCart(product.id, 1)) { draw(); onCartChange && onCartChange(); }
        },
      }, t("app.add_to_cart")));
    }
  };
  draw();
  return slot;
}

export function productCard(product, onCartChange) {
  return h("article", {
    class: "card", "data-product": product.id, tabindex: "0",
    onclick: () => navigate(`/p/${product.id}`),
  },
  h("div", { class: "media" },
    productImage(product),
    product.discount_percent ? h("span", { class: "badge-sale" }, t("app.discount", { percent: product.discount_percent })) : null,
  ),
  h("div", { class: "body" },
    priceBlock(product),
    h("div", { class: "name" }, product.name),
    stockLabel(product),
    cardBuy(product, onCartChange),
  ));
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
