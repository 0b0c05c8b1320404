// The one translation catalog (store/texts/*), embedded in the page by the server for uz and ru.

const catalogs = JSON.parse(document.getElementById("i18n").textContent);
export const LANGUAGES = ["uz", "ru"];
let current = "uz";

export function normalizeLanguage(code) {
  return code && String(code).toLowerCase().split("-")[0] === "ru" ? "ru" : "uz";
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
  const text = (catalogs[current] && catalogs[current][key]) || catalogs.uz[key] || key;
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
