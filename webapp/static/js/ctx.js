// Shared state of the running Mini App: the customer, their cart, navigation and the main button.

import { api } from "./api.js";
import { toast } from "./dom.js";
import { t } from "./i18n.js";
import { tg } from "./tg.js";

export const state = {
  me: null,
  cart: null, // the last cart the API returned
};

// --- navigation (hash routes: #/path?query) ---

let renderRoute = () => {};
let depth = 0;

export function onRoute(render) {
  renderRoute = render;
}

export function currentDepth() {
  return depth;
}

export function syncDepth() {
  depth = (history.state && history.state.depth) || 0;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) {
    history.replaceState({ depth }, "", "#" + path);
  } else {
    depth += 1;
    history.pushState({ depth }, "", "#" + path);
  }
  renderRoute();
}

export function goBack() {
  if (depth > 0) history.back();
  else navigate("/", { replace: true });
}

// --- the main button: one action at a time, set by each screen ---

let mainAction = null;

export function setMain(config) {
  const button = tg.mainButton;
  if (!config) {
    mainAction = null;
    button.hideProgress();
    button.hide();
    return;
  }
  mainAction = config.onClick;
  button.onClick(() => mainAction && mainAction());
  button.setText(config.text);
  if (config.enabled === false) button.disable();
  else button.enable();
  if (config.progress) button.showProgress();
  else button.hideProgress();
  button.show();
}

export function mainProgress(on) {
  if (on) tg.mainButton.showProgress();
  else tg.mainButton.hideProgress();
}

// "Go to cart" on every browsing screen while the cart holds something.
export function setCartMain() {
  const cart = state.cart;
  if (cart && cart.lines.length) {
    setMain({ text: t("app.go_to_cart", { total: cart.total_text }), onClick: () => navigate("/cart") });
  } else {
    setMain(null);
  }
}

// --- the cart ---

export function cartQuantity(productId) {
  const line = state.cart && state.cart.lines.find((l) => l.product.id === productId);
  return line ? line.quantity : 0;
}

export function setCart(cart) {
  state.cart = cart;
  const badge = document.getElementById("cart-badge");
  const count = cart ? cart.lines.length : 0;
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = count === 0;
}

export async function loadCart() {
  setCart(await api("GET", "/api/cart"));
  return state.cart;
}

// Set a line's quantity; shows the API's own message (in the customer's language) when it says no.
export async function changeCart(productId, quantity) {
  try {
    setCart(await api("PUT", `/api/cart/items/${productId}`, { quantity }));
    tg.haptic(quantity > 0 ? "light" : "rigid");
    return true;
  } catch (error) {
    showError(error);
    return false;
  }
}

export function showError(error) {
  tg.haptic("error");
  toast(error.message || t("app.error_title"), "error");
}
