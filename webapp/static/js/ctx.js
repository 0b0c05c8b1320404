// Shared state of the running Mini App: the customer, their cart, navigation and the main button.

import { api } from "./api.js";
import { toast } from "./dom.js";
import { t } from "./i18n.js";
import { tg } from "./tg.js";

export const state = {
  me: null,
  cart: null, // the last cart the API returned
  favorites: new Set(), // ids of the customer's favourite products
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

export function navigate(path, { replace = false, tab = false } = {}) {
  if (tab) {
    depth = 0; // a tab is a fresh start: its screen shows Close, not Back
    history.replaceState({ depth }, "", "#" + path);
  } else if (replace) {
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

// --- the main button: one primary action per screen, set by each screen ---
//
// While the main button shows, the app's own tab bar hides (the two together took a fifth of a
// small screen), and the back button becomes the way out.

let mainAction = null;
let mainVisible = false;
let tabVisible = true;
const frameListeners = new Set();

export function onFrameChange(listener) {
  frameListeners.add(listener);
}

function drawFrame() {
  const tabbar = document.getElementById("tabbar");
  const showTabs = tabVisible && !mainVisible;
  if (tabbar) tabbar.hidden = !showTabs;
  document.body.classList.toggle("no-tabbar", !showTabs);
  for (const listener of frameListeners) listener({ mainVisible, tabsVisible: showTabs });
}

export function setTabVisible(visible) {
  tabVisible = visible;
  drawFrame();
}

export function setMain(config) {
  const button = tg.mainButton;
  if (!config) {
    mainAction = null;
    if (mainVisible) {
      button.hideProgress();
      button.hide();
    }
    mainVisible = false;
    drawFrame();
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
  mainVisible = true;
  drawFrame();
}

export function mainProgress(on) {
  if (on) tg.mainButton.showProgress();
  else tg.mainButton.hideProgress();
}

// Browsing screens have no primary action of their own: the tab bar (with the cart's badge) shows.
export function setCartMain() {
  setMain(null);
}

// --- the cart ---
//
// Quantity changes are optimistic and coalesced: a tap changes the wanted quantity at once (every
// screen showing that product redraws from `cartQuantity`), one request per product is in flight at a
// time, and when it comes back the latest wanted quantity is sent if it moved meanwhile. The server's
// cart then reconciles; a refusal rolls the number back to what the server holds and says why.

const wanted = new Map(); // productId -> the quantity the customer wants now (not yet confirmed)
const inFlight = new Set(); // productIds with a PUT on its way
const listeners = new Set();

// Screens that show quantities subscribe; the callback gets the product id that changed (null: all).
export function onCartChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(productId) {
  for (const listener of [...listeners]) {
    try { listener(productId); } catch (error) { console.error(error); }
  }
}

function confirmedQuantity(productId) {
  const line = state.cart && state.cart.lines.find((l) => l.product.id === productId);
  return line ? line.quantity : 0;
}

export function cartQuantity(productId) {
  return wanted.has(productId) ? wanted.get(productId) : confirmedQuantity(productId);
}

// Units in the cart as the customer sees them now (the badge and the cart's header agree).
export function cartUnits() {
  if (!state.cart) return 0;
  let units = 0;
  const seen = new Set();
  for (const line of state.cart.lines) {
    seen.add(line.product.id);
    units += cartQuantity(line.product.id);
  }
  for (const [id, quantity] of wanted) if (!seen.has(id)) units += quantity;
  return units;
}

export function pendingCart() {
  return wanted.size > 0;
}

function drawBadge() {
  const badge = document.getElementById("cart-badge");
  if (!badge) return;
  const count = cartUnits();
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = count === 0;
}

export function setCart(cart) {
  state.cart = cart;
  drawBadge();
}

export async function loadCart() {
  const fresh = await api("GET", "/api/cart");
  if (!pendingCart()) setCart(fresh);
  return state.cart;
}

async function flush(productId) {
  if (inFlight.has(productId)) return;
  inFlight.add(productId);
  try {
    while (wanted.has(productId)) {
      const quantity = wanted.get(productId);
      try {
        const cart = await api("PUT", `/api/cart/items/${productId}`, { quantity });
        if (wanted.get(productId) === quantity) wanted.delete(productId);
        setCart(cart);
        emit(productId);
      } catch (error) {
        // Refused (or the network is gone): back to what the server holds, and say why.
        wanted.delete(productId);
        drawBadge();
        emit(productId);
        showError(error);
        try { setCart(await api("GET", "/api/cart")); emit(null); } catch { /* keep the last known cart */ }
        return;
      }
    }
  } finally {
    inFlight.delete(productId);
  }
}

// Set a line's quantity (0 removes it): shown at once, sent coalesced, reconciled by the server.
export function wantQuantity(productId, quantity) {
  const next = Math.max(0, Math.min(999, Math.floor(quantity)));
  if (next === cartQuantity(productId)) return;
  tg.haptic(next > 0 ? "light" : "rigid");
  if (next === confirmedQuantity(productId) && !inFlight.has(productId)) wanted.delete(productId);
  else wanted.set(productId, next);
  drawBadge();
  emit(productId);
  flush(productId);
}

// Wait until every change sent from this screen is answered (before checkout, for example).
export async function cartSettled() {
  while (wanted.size || inFlight.size) await new Promise((resolve) => setTimeout(resolve, 40));
  return state.cart;
}

// Set a line's quantity and wait for the answer; shows the API's own message when it says no.
export async function changeCart(productId, quantity) {
  try {
    setCart(await api("PUT", `/api/cart/items/${productId}`, { quantity }));
    emit(productId);
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
