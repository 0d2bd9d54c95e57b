/* caselog contract-management dashboard: reads the public API with the token of this tab.
 *
 * Series are derived from GET /v1/kpis: one call for the whole period, one per month of it
 * (period filters) and one per provider (provider filter); open signals from GET /v1/signals
 * per provider. Every chart has a table of the same figures (data-value holds the API's
 * number) for screen readers and for checking. Nothing is loaded from outside the service.
 */
"use strict";

const TOKEN_KEY = "caselog.token";
const MAX_MONTHS = 36;
const NORM_DAYS = 56; // referral to decision within 56 days
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
// Okabe-Ito: distinguishable with the common colour-vision deficiencies
const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000"];

const $ = (id) => document.getElementById(id);
const charts = {};
let dimensions = null;

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

async function call(path, params, accept) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const response = await fetch(url, {
    headers: { Authorization: `Bearer ${token()}`, Accept: accept || "application/json" },
  });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = await response.json();
      detail = problem.detail || problem.title || detail;
      if (problem.errors) detail += ": " + problem.errors.map((e) => e.key || e.message || JSON.stringify(e)).join(", ");
    } catch {
      /* not problem+json */
    }
    throw new ApiError(response.status, `${response.status} ${detail}`);
  }
  return accept ? response.blob() : response.json();
}

// --- dates -------------------------------------------------------------------------------

function iso(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

function parseDay(s) {
  const [y, m, d] = s.split("-").map(Number);
  return new Date(y, m - 1, d);
}

/** Each calendar month overlapping [start, end], clipped to the period. */
function months(start, end) {
  const out = [];
  let cursor = new Date(start.getFullYear(), start.getMonth(), 1);
  while (cursor <= end) {
    const last = new Date(cursor.getFullYear(), cursor.getMonth() + 1, 0);
    out.push({
      label: `${cursor.getFullYear()}-${String(cursor.getMonth() + 1).padStart(2, "0")}`,
      start: iso(cursor < start ? start : cursor),
      end: iso(last > end ? end : last),
    });
    cursor = new Date(cursor.getFullYear(), cursor.getMonth() + 1, 1);
  }
  return out;
}

// --- formatting --------------------------------------------------------------------------

const nf = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 });
const money = new Intl.NumberFormat("nl-NL", { style: "currency", currency: "EUR" });
const pct = (r) => (r === null || r === undefined ? "–" : `${nf.format(r * 100)} %`);
const num = (v) => (v === null || v === undefined ? "–" : nf.format(v));
const eur = (v) => money.format(Number(v));
const euros = (v) => new Intl.NumberFormat("nl-NL", { style: "currency", currency: "EUR", maximumFractionDigits: 0 }).format(Number(v));
const pctValue = (r) => (r === null || r === undefined ? null : Math.round(r * 1000) / 10);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

/** A table whose cells show formatted figures and keep the API's value in data-value. */
function table(id, caption, columns, rows) {
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", text: c.title })));
  const body = rows.map((row) =>
    el(
      "tr",
      { "data-key": row.key },
      ...columns.map((c, i) => {
        const value = c.value(row);
        const cell = el(i === 0 ? "th" : "td", {
          text: c.format ? c.format(value) : String(value ?? "–"),
          "data-field": c.field,
          "data-value": value === null || value === undefined ? "" : String(value),
        });
        if (i === 0) cell.setAttribute("scope", "row");
        return cell;
      }),
    ),
  );
  return el(
    "table",
    { id },
    el("caption", { text: caption }),
    el("thead", {}, head),
    el("tbody", {}, ...body),
  );
}

// --- the panels --------------------------------------------------------------------------

const axisPercent = { beginAtZero: true, ticks: { callback: (v) => `${v} %` } };

/** Each panel: a chart and the table of its figures, built from the fetched KPI documents. */
const PANELS = [
  {
    id: "caseload",
    title: "Caseload per month (CBS: started, running, ended)",
    describe: "Cases started, running and ended in each month of the period.",
    build({ perMonth }) {
      return {
        chart: {
          type: "bar",
          data: {
            labels: perMonth.map((m) => m.label),
            datasets: [
              { label: "started", data: perMonth.map((m) => m.kpis.doorlooptijd.indication_to_start_days.n) },
              { label: "ended", data: perMonth.map((m) => m.kpis.uitstroom.count) },
              { type: "line", label: "running", data: perMonth.map((m) => m.kpis.cases) },
            ],
          },
        },
        rows: perMonth.map((m) => ({ key: m.label, ...m })),
        columns: [
          { title: "Month", field: "month", value: (r) => r.label },
          { title: "Started", field: "started", value: (r) => r.kpis.doorlooptijd.indication_to_start_days.n },
          { title: "Running", field: "cases", value: (r) => r.kpis.cases },
          { title: "Ended", field: "ended", value: (r) => r.kpis.uitstroom.count },
          { title: "Ended according to plan (19)", field: "successful", value: (r) => r.kpis.uitstroom.successful },
        ],
      };
    },
  },
  {
    id: "uitstroom",
    title: "Uitstroom per provider: successful and lasting",
    describe: "Share of ended cases that ended according to plan, and that did not return (R-31).",
    build({ perProvider }) {
      return {
        chart: {
          type: "bar",
          data: {
            labels: perProvider.map((p) => p.label),
            datasets: [
              { label: "successful (%)", data: perProvider.map((p) => pctValue(p.kpis.uitstroom.rate_successful)) },
              { label: "lasting (%)", data: perProvider.map((p) => pctValue(p.kpis.uitstroom.rate_lasting)) },
            ],
          },
          options: { scales: { y: { ...axisPercent, max: 100 } } },
        },
        rows: perProvider.map((p) => ({ key: p.label, ...p })),
        columns: [
          { title: "Provider", field: "provider", value: (r) => r.label },
          { title: "Ended", field: "count", value: (r) => r.kpis.uitstroom.count },
          { title: "Successful", field: "successful", value: (r) => r.kpis.uitstroom.successful },
          { title: "Successful rate", field: "rate_successful", value: (r) => r.kpis.uitstroom.rate_successful, format: pct },
          { title: "Lasting", field: "lasting", value: (r) => r.kpis.uitstroom.lasting },
          { title: "Lasting rate", field: "rate_lasting", value: (r) => r.kpis.uitstroom.rate_lasting, format: pct },
        ],
      };
    },
  },
  {
    id: "providers",
    title: "Providers compared (R-28)",
    describe: "Cases running, started and ended per provider in the period; the table holds each provider's main figures.",
    build({ perProvider }) {
      const k = (r) => r.kpis;
      return {
        chart: {
          type: "bar",
          data: {
            labels: perProvider.map((p) => p.label),
            datasets: [
              { label: "running", data: perProvider.map((p) => k(p).cases) },
              { label: "started", data: perProvider.map((p) => k(p).doorlooptijd.indication_to_start_days.n) },
              { label: "ended", data: perProvider.map((p) => k(p).uitstroom.count) },
            ],
          },
        },
        rows: perProvider.map((p) => ({ key: p.label, ...p })),
        columns: [
          { title: "Provider", field: "provider", value: (r) => r.label },
          { title: "Running", field: "cases", value: (r) => k(r).cases },
          { title: "Started", field: "started", value: (r) => k(r).doorlooptijd.indication_to_start_days.n },
          { title: "Ended", field: "ended", value: (r) => k(r).uitstroom.count },
          { title: "Decision to start, median days", field: "to_start_median", value: (r) => k(r).doorlooptijd.indication_to_start_days.median, format: num },
          { title: "Trajectory, median days", field: "trajectory_median", value: (r) => k(r).doorlooptijd.trajectory_days.median, format: num },
          { title: "Afschaling", field: "afschaling", value: (r) => k(r).afschaling.count },
          { title: "Opschaling", field: "opschaling", value: (r) => k(r).opschaling.count },
          { title: "No-show rate", field: "no_show_rate", value: (r) => k(r).no_show_rate, format: pct },
          { title: "Cost", field: "cost", value: (r) => k(r).cost, format: eur },
        ],
      };
    },
  },
  {
    id: "doorlooptijd",
    title: `Doorlooptijd: referral to decision against the ${NORM_DAYS}-day norm (R-29)`,
    describe: `Median and 90th percentile of the days from referral to decision, per month of decision; the line at ${NORM_DAYS} days is the norm.`,
    build({ perMonth }) {
      const spread = (m) => m.kpis.doorlooptijd.referral_to_indication_days;
      return {
        chart: {
          type: "line",
          data: {
            labels: perMonth.map((m) => m.label),
            datasets: [
              { label: "median (days)", data: perMonth.map((m) => spread(m).median) },
              { label: "p90 (days)", data: perMonth.map((m) => spread(m).p90) },
              { label: `norm (${NORM_DAYS} days)`, data: perMonth.map(() => NORM_DAYS), borderDash: [6, 4], pointRadius: 0 },
            ],
          },
          options: { scales: { y: { beginAtZero: true } } },
        },
        rows: perMonth.map((m) => ({ key: m.label, ...m })),
        columns: [
          { title: "Month", field: "month", value: (r) => r.label },
          { title: "Median", field: "median", value: (r) => spread(r).median, format: num },
          { title: "p90", field: "p90", value: (r) => spread(r).p90, format: num },
          { title: "Decisions", field: "n", value: (r) => spread(r).n },
          { title: `Within ${NORM_DAYS} days`, field: "within_56", value: (r) => r.kpis.doorlooptijd.indication_within_56_days_share, format: pct },
        ],
      };
    },
  },
  {
    id: "schaling",
    title: "Afschaling and opschaling per month",
    describe: "Scale changes to a lighter (afschaling) or heavier (opschaling) volume or product.",
    build({ perMonth }) {
      return {
        chart: {
          type: "bar",
          data: {
            labels: perMonth.map((m) => m.label),
            datasets: [
              { label: "afschaling", data: perMonth.map((m) => m.kpis.afschaling.count) },
              { label: "opschaling", data: perMonth.map((m) => m.kpis.opschaling.count) },
            ],
          },
        },
        rows: perMonth.map((m) => ({ key: m.label, ...m })),
        columns: [
          { title: "Month", field: "month", value: (r) => r.label },
          { title: "Afschaling", field: "afschaling", value: (r) => r.kpis.afschaling.count },
          { title: "Afschaling rate", field: "afschaling_rate", value: (r) => r.kpis.afschaling.rate, format: pct },
          { title: "Opschaling", field: "opschaling", value: (r) => r.kpis.opschaling.count },
          { title: "Opschaling rate", field: "opschaling_rate", value: (r) => r.kpis.opschaling.rate, format: pct },
        ],
      };
    },
  },
  {
    id: "noshow",
    title: "No-show rate per month",
    describe: "No-shows as a share of no-shows plus direct and group contacts; timely cancellations count as neither (R-13).",
    build({ perMonth }) {
      return {
        chart: {
          type: "line",
          data: {
            labels: perMonth.map((m) => m.label),
            datasets: [{ label: "no-show rate (%)", data: perMonth.map((m) => pctValue(m.kpis.no_show_rate)) }],
          },
          options: { scales: { y: axisPercent } },
        },
        rows: perMonth.map((m) => ({ key: m.label, ...m })),
        columns: [
          { title: "Month", field: "month", value: (r) => r.label },
          { title: "No-show rate", field: "no_show_rate", value: (r) => r.kpis.no_show_rate, format: pct },
        ],
      };
    },
  },
  {
    id: "zrm",
    title: "ZRM progress per domain",
    describe: "Mean change of the self-reliance score (1..5) between the first and the last evaluation.",
    build({ total }) {
      const domains = Object.entries(total.zrm_progress);
      return {
        chart: {
          type: "bar",
          data: {
            labels: domains.map(([d]) => d.replace(/_/g, " ")),
            datasets: [{ label: "mean change", data: domains.map(([, v]) => v) }],
          },
          options: { indexAxis: "y" },
        },
        rows: domains.map(([d, v]) => ({ key: d, domain: d, value: v })),
        columns: [
          { title: "Domain", field: "domain", value: (r) => r.domain },
          { title: "Mean change", field: "progress", value: (r) => r.value, format: (v) => nf.format(v) },
        ],
      };
    },
  },
  {
    id: "cost",
    title: "Cost per month",
    describe: "Amounts due of the months in the period (euro); * marks a month with an unknown price.",
    build({ perMonth }) {
      return {
        chart: {
          type: "bar",
          data: {
            labels: perMonth.map((m) => m.label + (m.kpis.cost_complete ? "" : " *")),
            datasets: [{ label: "cost (€)", data: perMonth.map((m) => Number(m.kpis.cost)) }],
          },
          options: { scales: { y: { beginAtZero: true, ticks: { callback: (v) => eur(v) } } } },
        },
        rows: perMonth.map((m) => ({ key: m.label, ...m })),
        columns: [
          { title: "Month", field: "month", value: (r) => r.label },
          { title: "Cost", field: "cost", value: (r) => r.kpis.cost, format: eur },
          { title: "Complete", field: "cost_complete", value: (r) => r.kpis.cost_complete, format: (v) => (v ? "yes" : "no: a price is unknown") },
        ],
      };
    },
  },
];

function renderPanels(data) {
  const holder = $("panels");
  for (const panel of PANELS) {
    const built = panel.build(data);
    let section = $(`panel-${panel.id}`);
    if (!section) {
      section = el(
        "section",
        { id: `panel-${panel.id}`, class: "card panel", "aria-labelledby": `title-${panel.id}` },
        el("h2", { id: `title-${panel.id}`, text: panel.title }),
        el("p", { class: "hint", id: `desc-${panel.id}`, text: panel.describe }),
        el(
          "div",
          { class: "chart-box" },
          el("canvas", {
            id: `chart-${panel.id}`,
            role: "img",
            "aria-label": `${panel.title}. The figures are in the table below.`,
            "aria-describedby": `desc-${panel.id}`,
          }),
        ),
        el("details", {}, el("summary", { text: "The figures" }), el("div", { id: `figures-${panel.id}` })),
      );
      holder.append(section);
    }
    $(`figures-${panel.id}`).replaceChildren(
      table(`table-${panel.id}`, panel.title, built.columns, built.rows),
    );
    draw(panel.id, built.chart);
  }
}

function draw(id, spec) {
  spec.data.datasets.forEach((ds, i) => {
    const colour = COLOURS[i % COLOURS.length];
    ds.backgroundColor ??= colour;
    ds.borderColor ??= colour;
  });
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart($(`chart-${id}`), {
    ...spec,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { position: "bottom" } },
      ...(spec.options || {}),
    },
  });
}

function renderTiles(total) {
  const d = total.doorlooptijd;
  const tiles = [
    ["cases", "Cases in scope", num(total.cases), total.cases],
    ["ended", "Ended (uitstroom)", num(total.uitstroom.count), total.uitstroom.count],
    ["rate_successful", "Ended according to plan", pct(total.uitstroom.rate_successful), total.uitstroom.rate_successful],
    ["rate_lasting", "Lasting outflow", pct(total.uitstroom.rate_lasting), total.uitstroom.rate_lasting],
    ["median_decision", "Referral to decision, median", `${num(d.referral_to_indication_days.median)} days`, d.referral_to_indication_days.median],
    ["within_56", `Decided within ${NORM_DAYS} days`, pct(d.indication_within_56_days_share), d.indication_within_56_days_share],
    ["no_show_rate", "No-show rate", pct(total.no_show_rate), total.no_show_rate],
    ["cost", "Cost", euros(total.cost) + (total.cost_complete ? "" : " *"), total.cost],
  ];
  $("tiles").replaceChildren(
    ...tiles.map(([key, title, shown, value]) =>
      el("div", { class: "tile" }, el("dt", { text: title }), el("dd", { "data-field": key, "data-value": value ?? "", text: shown })),
    ),
  );
}

async function renderSignals(filters, providers) {
  const body = $("signals-body");
  const role = (claims(token()) || {}).role;
  if (role !== "municipality") {
    body.replaceChildren(el("p", { text: `Signals are shown to municipalities (your role: ${role}).` }));
    return;
  }
  const on = filters.period_end;
  const counts = await Promise.all(
    providers.map(async (provider) => {
      const rules = {};
      for (let offset = 0; offset < 20000; offset += 1000) {
        const page = await call("/v1/signals", { provider, open: "true", on, limit: 1000, offset });
        for (const s of page.signals) rules[s.rule] = (rules[s.rule] || 0) + 1;
        if (page.signals.length < 1000) break;
      }
      return { key: provider, provider, rules };
    }),
  );
  const ruleIds = [...new Set(counts.flatMap((c) => Object.keys(c.rules)))].sort();
  const columns = [
    { title: "Provider", field: "provider", value: (r) => r.provider },
    ...ruleIds.map((rule) => ({ title: rule, field: rule, value: (r) => r.rules[rule] || 0 })),
    { title: "Total", field: "total", value: (r) => Object.values(r.rules).reduce((a, b) => a + b, 0) },
  ];
  body.replaceChildren(
    el("p", { class: "hint", text: `Signals open on ${on}, by rule.` }),
    table("table-signals", `Open signals per provider on ${on}`, columns, counts),
  );
}

// --- the flow ----------------------------------------------------------------------------

function filters() {
  const value = (id) => $(id).value;
  const asOf = value("as_of");
  return {
    period_start: value("period_start"),
    period_end: value("period_end"),
    provider: value("provider"),
    product: value("product"),
    municipality: value("municipality"),
    as_of: asOf ? parseDay(asOf).toISOString() : "",
  };
}

function fill(select, values) {
  const first = select.options[0];
  select.replaceChildren(first, ...values.map((v) => el("option", { value: v, text: v })));
}

async function loadDimensions() {
  dimensions = await call("/v1/kpis/dimensions");
  fill($("provider"), dimensions.providers);
  fill($("product"), dimensions.products);
  fill($("municipality"), dimensions.municipalities);
  if (!$("period_start").value) {
    const years = Object.entries(dimensions.referral_years);
    const current = String(new Date().getFullYear());
    const year = dimensions.referral_years[current]
      ? current
      : years.reduce((best, y) => (y[1] > best[1] ? y : best), [current, 0])[0];
    $("period_start").value = `${year}-01-01`;
    $("period_end").value = `${year}-12-31`;
  }
}

async function show() {
  const f = filters();
  const start = parseDay(f.period_start);
  const end = parseDay(f.period_end);
  if (end < start) throw new ApiError(422, "The period ends before it starts.");
  const periodMonths = months(start, end);
  if (periodMonths.length > MAX_MONTHS) throw new ApiError(422, `Choose a period of at most ${MAX_MONTHS} months.`);
  const providers = f.provider ? [f.provider] : dimensions.providers;
  $("status").textContent = "Loading the figures…";
  const [total, perMonth, perProvider] = await Promise.all([
    call("/v1/kpis", f),
    Promise.all(
      periodMonths.map(async (m) => ({
        label: m.label,
        kpis: await call("/v1/kpis", { ...f, period_start: m.start, period_end: m.end }),
      })),
    ),
    Promise.all(providers.map(async (p) => ({ label: p, kpis: await call("/v1/kpis", { ...f, provider: p }) }))),
  ]);
  $("main").hidden = false;
  renderTiles(total);
  renderPanels({ total, perMonth, perProvider });
  await renderSignals(f, providers);
  const asOf = f.as_of ? `, as known on ${$("as_of").value}` : "";
  $("status").textContent = `Figures for ${f.period_start} to ${f.period_end}${asOf}: ${total.cases} cases.`;
  document.body.dataset.loaded = JSON.stringify(f);
}

async function download(accept, extension) {
  const f = filters();
  const blob = await call("/v1/kpis", { ...f, group_by: $("group_by").value }, accept);
  const link = el("a", {
    href: URL.createObjectURL(blob),
    download: `caselog-kpis-${f.period_start}-${f.period_end}-by-${$("group_by").value}.${extension}`,
  });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function report(error) {
  $("status").textContent = "";
  if (error instanceof ApiError && error.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    signedOut("The token was refused (expired or not for this service); enter another.");
    return;
  }
  $("error").textContent = error.message || String(error);
}

async function guarded(action) {
  $("error").textContent = "";
  try {
    await action();
  } catch (error) {
    report(error);
  }
}

function signedOut(message) {
  $("signin").hidden = false;
  $("filters").hidden = true;
  $("main").hidden = true;
  $("who").textContent = "";
  $("error").textContent = message || "";
  $("token").focus();
}

async function signedIn() {
  const c = claims(token()) || {};
  $("who").textContent = `Signed in as ${c.sub || "?"} (${c.role || "?"}, ${c.tenant || "?"})`;
  $("signin").hidden = true;
  $("filters").hidden = false;
  await loadDimensions();
  await show();
}

document.addEventListener("DOMContentLoaded", () => {
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    guarded(signedIn);
  });
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(show);
  });
  $("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    signedOut();
  });
  $("export-csv").addEventListener("click", () => guarded(() => download("text/csv", "csv")));
  $("export-xlsx").addEventListener("click", () => guarded(() => download(XLSX, "xlsx")));
  if (token()) guarded(signedIn);
  else signedOut();
});
