// The one translation catalog (store/texts/*): the customer's language only, fetched from a
// content-hashed asset (cached for good) whose address the page names: <html data-texts-uz="...">.

const catalogs = { uz: null, ru: null };
const loading = {};
export const LANGUAGES = ["uz", "ru"];
let current = "uz";

export function normalizeLanguage(code) {
  return code && String(code).toLowerCase().split("-")[0] === "ru" ? "ru" : "uz";
}

export function loadTexts(lang) {
  const code = LANGUAGES.includes(lang) ? lang : "uz";
  if (catalogs[code]) return Promise.resolve(catalogs[code]);
  if (!loading[code]) {
    const url = document.documentElement.dataset[`texts${code === "ru" ? "Ru" : "Uz"}`];
    loading[code] = fetch(url).then((response) => {
      if (!response.ok) throw new Error(`texts ${code}: ${response.status}`);
      return response.json();
    }).then((texts) => { catalogs[code] = texts; return texts; })
      .catch((error) => { delete loading[code]; throw error; });
  }
  return loading[code];
}

export function setLanguage(lang) {
  current = LANGUAGES.includes(lang) ? lang : "uz";
  document.documentElement.lang = current;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
}

export function language() {
  return current;
}

export function t(key, params) {
  const text = (catalogs[current] && catalogs[current][key]) || key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

// The same rule as store.i18n.format_money: whole so'm, thousands separated by spaces.
export function money(amount) {
  const whole = Math.round(Number(amount));
  const digits = Math.abs(whole).toString().replace(/\B(?=(\d{3})+(?!\d))/g, " ");
  return `${whole < 0 ? "-" : ""}${digits} ${t("currency")}`;
}

// Dates in Tashkent time (UTC+5 all year), with month names from the catalog: ICU's Uzbek data is
// patchy in web views ("2026 M11 25"), so the format is ours: "25-noyabr 2026, 18:48" / "25 ноября 2026, 18:48".
export function formatDate(iso) {
  if (!iso) return "";
  const tashkent = new Date(new Date(iso).getTime() + 5 * 3600 * 1000);
  const months = t("app.months").split(",");
  const day = tashkent.getUTCDate();
  const month = months[tashkent.getUTCMonth()] || String(tashkent.getUTCMonth() + 1);
  const time = `${String(tashkent.getUTCHours()).padStart(2, "0")}:${String(tashkent.getUTCMinutes()).padStart(2, "0")}`;
  const date = current === "ru" ? `${day} ${month}` : `${day}-${month}`;
  return `${date} ${tashkent.getUTCFullYear()}, ${time}`;
}

// An Uzbek phone as people write it: +998 90 123 45 67 (anything else is shown as given).
export function formatPhone(raw) {
  const digits = String(raw || "").replace(/\D/g, "");
  const local = digits.length === 12 && digits.startsWith("998") ? digits.slice(3) : digits.length === 9 ? digits : null;
  if (!local) return String(raw || "");
  return `+998 ${local.slice(0, 2)} ${local.slice(2, 5)} ${local.slice(5, 7)} ${local.slice(7)}`;
}
