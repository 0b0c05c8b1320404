// Telegram.WebApp, and stand-ins for its native buttons where there is no Telegram client around
// the page (a plain browser in local mode): the same calls then drive in-page buttons.

const webApp = (window.Telegram && window.Telegram.WebApp) || null;
const webView = (window.Telegram && window.Telegram.WebView) || null;

// Inside a Telegram client the native MainButton / BackButton exist: the client injects a proxy
// (mobile, desktop) or hosts the page in an iframe (Telegram Web).
const native = Boolean(
  webApp && (window.TelegramWebviewProxy !== undefined ||
    (window.external && "notify" in window.external) || (webView && webView.isIframe)),
);

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
  webApp,
  native,
  initData: (webApp && webApp.initData) || "",
  user: (webApp && webApp.initDataUnsafe && webApp.initDataUnsafe.user) || null,
  // A direct link (t.me/bot/app?startapp=...) sets start_param; the bot's web_app button cannot, so it
  // puts the same value in the page's own query string.
  startParam: (webApp && webApp.initDataUnsafe && webApp.initDataUnsafe.start_param)
    || new URLSearchParams(location.search).get("startapp") || "",
  mainButton: null,
  backHandler: null,

  init() {
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

  applyScheme() {
    if (webApp && webApp.themeParams && webApp.themeParams.bg_color) {
      document.documentElement.dataset.scheme = webApp.colorScheme;
    }
  },

  // The back button mirrors navigation: shown on every screen but the home screen.
  setBack(visible, handler) {
    this.backHandler = handler;
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
