// Telegram.WebApp, and stand-ins for its native buttons where there is no Telegram client around
// the page (a plain browser in local mode): the same calls then drive in-page buttons.
//
// Telegram's script is loaded by the app, not by the page's head, so nothing waits for telegram.org:
// the page paints its skeleton at once, and when telegram.org does not answer in time (or fails) the
// same script is loaded from here (a copy of @twa-dev/sdk's dist/telegram-web-apps.js, MIT).

let webApp = null;
let webView = null;
let native = false;

const TELEGRAM_WAIT_MS = 2500;

function loadScript(src) {
  return new Promise((resolve) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = () => resolve(Boolean(window.Telegram && window.Telegram.WebApp));
    script.onerror = () => resolve(false);
    document.head.append(script);
  });
}

export async function ensureTelegram() {
  if (!(window.Telegram && window.Telegram.WebApp)) {
    const root = document.documentElement.dataset;
    const remote = loadScript(root.tgScript);
    const late = new Promise((resolve) => setTimeout(() => resolve(false), TELEGRAM_WAIT_MS));
    // Whichever comes first: the script from telegram.org, or the wait running out.
    const ok = await Promise.race([remote, late]);
    if (!ok && !(window.Telegram && window.Telegram.WebApp)) await loadScript(root.tgFallback);
  }
  webApp = (window.Telegram && window.Telegram.WebApp) || null;
  webView = (window.Telegram && window.Telegram.WebView) || null;
  // Inside a Telegram client the native MainButton / BackButton exist: the client injects a proxy
  // (mobile, desktop) or hosts the page in an iframe (Telegram Web).
  native = Boolean(
    webApp && (window.TelegramWebviewProxy !== undefined ||
      (window.external && "notify" in window.external) || (webView && webView.isIframe)),
  );
}

function supports(version) {
  return Boolean(webApp && webApp.isVersionAtLeast && webApp.isVersionAtLeast(version));
}

function safely(fn) {
  try { fn(); } catch (error) { console.warn("Telegram.WebApp:", error); }
}

class FallbackMainButton {
  constructor() {
    this.root = document.getElementById("main-button-fallback");
    this.button = this.root.querySelector("button");
    this.label = this.root.querySelector(".label");
    this.handler = null;
    this.button.addEventListener("click", () => {
      if (!this.button.disabled && !this.root.classList.contains("progress") && this.handler) this.handler();
    });
  }
  setText(text) { this.label.textContent = text; }
  show() { this.root.hidden = false; document.body.classList.add("has-main-button"); }
  hide() { this.root.hidden = true; document.body.classList.remove("has-main-button"); }
  enable() { this.button.disabled = false; }
  disable() { this.button.disabled = true; }
  showProgress() { this.root.classList.add("progress"); }
  hideProgress() { this.root.classList.remove("progress"); }
  onClick(handler) { this.handler = handler; }
}

class NativeMainButton {
  constructor() { this.handler = null; webApp.MainButton.onClick(() => this.handler && this.handler()); }
  setText(text) { webApp.MainButton.setText(text); }
  show() { webApp.MainButton.show(); }
  hide() { webApp.MainButton.hide(); }
  enable() { webApp.MainButton.enable(); }
  disable() { webApp.MainButton.disable(); }
  showProgress() { webApp.MainButton.showProgress(false); }
  hideProgress() { webApp.MainButton.hideProgress(); }
  onClick(handler) { this.handler = handler; }
}

export const tg = {
  webApp: null,
  native: false,
  initData: "",
  user: null,
  startParam: "",
  mainButton: null,
  backHandler: null,
  backVisible: null,

  init() {
    this.webApp = webApp;
    this.native = native;
    this.initData = (webApp && webApp.initData) || "";
    this.user = (webApp && webApp.initDataUnsafe && webApp.initDataUnsafe.user) || null;
    // A direct link (t.me/bot/app?startapp=...) sets start_param; the bot's web_app button cannot, so it
    // puts the same value in the page's own query string.
    this.startParam = (webApp && webApp.initDataUnsafe && webApp.initDataUnsafe.start_param)
      || new URLSearchParams(location.search).get("startapp") || "";
    this.mainButton = native ? new NativeMainButton() : new FallbackMainButton();
    if (!webApp) return;
    safely(() => webApp.ready());
    safely(() => webApp.expand());
    if (supports("6.1")) {
      safely(() => webApp.setHeaderColor("secondary_bg_color"));
      safely(() => webApp.setBackgroundColor("secondary_bg_color"));
      safely(() => webApp.BackButton.onClick(() => this.backHandler && this.backHandler()));
    }
    if (supports("7.10")) safely(() => webApp.setBottomBarColor("secondary_bg_color"));
    if (supports("7.7")) safely(() => webApp.disableVerticalSwipes());
    this.applyScheme();
    webApp.onEvent("themeChanged", () => this.applyScheme());
  },

  // Every colour the theme gives, as CSS variables of our own (with fallbacks for the ones a client
  // does not send), set again whenever Telegram says the theme changed. Labels get a colour of their
  // own: the theme's hint colour, darkened (light theme) or lightened (dark) until it reads at 4.5:1.
  applyScheme() {
    const params = (webApp && webApp.themeParams) || {};
    const root = document.documentElement;
    if (params.bg_color) root.dataset.scheme = webApp.colorScheme;
    applyTheme(params, root, webApp ? webApp.colorScheme : "light");
  },

  // The back button mirrors navigation: shown on every screen but the home screen.
  setBack(visible, handler) {
    this.backHandler = handler;
    if (this.backVisible === visible) return;
    this.backVisible = visible;
    if (native && supports("6.1")) safely(() => (visible ? webApp.BackButton.show() : webApp.BackButton.hide()));
  },

  haptic(kind) {
    if (!webApp || !supports("6.1")) return;
    safely(() => {
      if (kind === "error" || kind === "success" || kind === "warning") webApp.HapticFeedback.notificationOccurred(kind);
      else if (kind === "select") webApp.HapticFeedback.selectionChanged();
      else webApp.HapticFeedback.impactOccurred(kind || "light");
    });
  },

  // The customer's phone from Telegram (they confirm sharing it in the client); null when not shared.
  canRequestPhone() {
    return native && supports("6.9");
  },

  requestPhone() {
    if (!this.canRequestPhone()) return Promise.resolve(null);
    return new Promise((resolve) => {
      try {
        webApp.requestContact((shared, event) => {
          const contact = shared && event && event.responseUnsafe && event.responseUnsafe.contact;
          resolve(contact && contact.phone_number ? String(contact.phone_number) : null);
        });
      } catch {
        resolve(null);
      }
    });
  },

  confirm(message) {
    if (native && supports("6.2")) {
      return new Promise((resolve) => webApp.showConfirm(message, (ok) => resolve(Boolean(ok))));
    }
    return Promise.resolve(window.confirm(message));
  },

  // A t.me link (a chat with the shop, the share sheet) inside Telegram; a new tab elsewhere.
  openTelegramLink(url) {
    if (!/^https:\/\/t\.me\//i.test(url)) return;
    if (webApp && native && supports("6.1")) safely(() => webApp.openTelegramLink(url));
    else window.open(url, "_blank", "noopener");
  },

  openLink(url) {
    if (!/^https?:\/\//i.test(url)) return;
    if (webApp && native) safely(() => webApp.openLink(url));
    else window.open(url, "_blank", "noopener");
  },

  // A payment page (Payme, Click): Telegram opens it in the browser and the Mini App stays on the
  // order screen, following the order; a plain browser (local mode) goes there in this tab and the
  // payment page sends it back to the order screen (Telegram's script keeps initData for the tab).
  openPayment(url) {
    if (!/^https?:\/\//i.test(url)) return;
    if (webApp && native) safely(() => webApp.openLink(url));
    else location.assign(url);
  },

  // A Telegram invoice (createInvoiceLink): `done(status)` gets paid, cancelled, failed or pending.
  canOpenInvoice() {
    return native && supports("6.1");
  },

  openInvoice(url, done) {
    if (!this.canOpenInvoice()) return false;
    safely(() => webApp.openInvoice(url, (status) => done && done(status)));
    return true;
  },
};

// --- colours ---

function parseColor(value) {
  const m = /^#([0-9a-f]{6})$/i.exec(String(value || "").trim());
  if (!m) return null;
  const n = parseInt(m[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function luminance([r, g, b]) {
  const lin = (c) => { const v = c / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}

export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const hex = (rgb) => "#" + rgb.map((c) => Math.round(Math.max(0, Math.min(255, c))).toString(16).padStart(2, "0")).join("");

// `color` moved toward black (light backgrounds) or white (dark ones) until it reads at `ratio`
// against every background given.
export function readable(color, backgrounds, ratio = 4.5) {
  let rgb = parseColor(color);
  const bgs = backgrounds.map(parseColor).filter(Boolean);
  if (!rgb || !bgs.length) return color;
  const dark = luminance(bgs[0]) < 0.3;
  const target = dark ? [255, 255, 255] : [0, 0, 0];
  for (let step = 0; step < 40 && bgs.some((bg) => contrast(rgb, bg) < ratio); step += 1) {
    rgb = rgb.map((c, i) => c + (target[i] - c) * 0.08);
  }
  return hex(rgb);
}

const FALLBACK = {
  light: { bg_color: "#ffffff", secondary_bg_color: "#efeff3", section_bg_color: "#ffffff", text_color: "#000000",
    hint_color: "#707579", link_color: "#2481cc", button_color: "#2481cc", button_text_color: "#ffffff",
    destructive_text_color: "#d92c20", accent_text_color: "#2481cc" },
  dark: { bg_color: "#212d3b", secondary_bg_color: "#151e27", section_bg_color: "#212d3b", text_color: "#ffffff",
    hint_color: "#8a97a5", link_color: "#5eabe1", button_color: "#5eabe1", button_text_color: "#ffffff",
    destructive_text_color: "#ee686f", accent_text_color: "#64b5ef" },
};

export function applyTheme(params, root, scheme) {
  const base = FALLBACK[scheme === "dark" ? "dark" : "light"];
  const color = (name) => (parseColor(params[name]) ? params[name] : base[name]);
  // The rest of the palette comes from Telegram's own --tg-theme-* variables (see app.css).
  const surfaces = [color("section_bg_color"), color("secondary_bg_color"), color("bg_color")];
  const vars = {
    "--label": readable(color("hint_color"), surfaces),
    "--danger-text": readable(color("destructive_text_color"), surfaces),
    "--link-text": readable(color("link_color"), surfaces),
  };
  for (const [name, value] of Object.entries(vars)) root.style.setProperty(name, value);
}
