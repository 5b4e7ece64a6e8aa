// pulse live page: polls the KPI API every few seconds and draws the conversion tiles and the six KPIs
// (tables + uPlot charts).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const COLORS = ["#2f6fde", "#e8833a", "#1f9d55", "#b5479b", "#d64545", "#7a8599", "#12a4b6"];
  const HOURS = Array.from({ length: 24 }, (_, h) => h);
  const fmt = new Intl.NumberFormat("en-US");
  const params = new URLSearchParams(location.search);
  const state = {
    config: null, clockOffsetMs: 0, lastAsOf: null, failing: null,
    token: sessionStorage.getItem("pulse_token") || new URLSearchParams(location.hash.slice(1)).get("token"),
    day: params.get("date") || "", tz: params.get("tz") || "",
    country: params.get("country") || "", product: params.get("product_id") || "",
  };
  const charts = {};
  let timer = null;

  class ApiError extends Error {
    constructor(status, body) { super((body && body.detail) || `HTTP ${status}`); this.status = status; }
  }

  async function api(path, query = {}) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(query)) if (v) url.searchParams.set(k, v);
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    const response = await fetch(url, { headers, cache: "no-store" });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  // ------------------------------------------------------------------------------------ tables
  function renderTable(id, rows, label, value = (r) => r.views, shown = (r) => fmt.format(value(r))) {
    const body = document.querySelector(`#${id} tbody`);
    const peak = Math.max(1, ...rows.map(value));
    body.replaceChildren(...rows.map((row, i) => {
      const tr = document.createElement("tr");
      const cells = [String(i + 1), label(row), shown(row)];
      cells.forEach((text, c) => {
        const td = document.createElement("td");
        td.textContent = text;
        td.className = ["rank", "key", "num views", ""][c];
        if (c === 1) td.title = text;
        tr.append(td);
      });
      const barCell = document.createElement("td");
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${(100 * value(row)) / peak}%`;
      barCell.append(bar);
      tr.append(barCell);
      return tr;
    }));
    if (!rows.length) {
      const tr = document.createElement("tr");
      tr.innerHTML = '<td></td><td class="empty" colspan="3">no views in this day yet</td>';
      body.append(tr);
    }
  }

  // ------------------------------------------------------------------------------------ charts
  function drawChart(key, el, seriesNames, data, bars) {
    const signature = JSON.stringify(seriesNames);
    const width = Math.max(260, el.clientWidth);
    if (charts[key] && charts[key].signature === signature) {
      charts[key].plot.setData([HOURS, ...data]);
      if (Math.abs(charts[key].plot.width - width) > 4) charts[key].plot.setSize({ width, height: 220 });
      return;
    }
    if (charts[key]) charts[key].plot.destroy();
    const series = [{ label: "hour", value: (u, v) => (v == null ? "" : `${String(v).padStart(2, "0")}h`) }];
    seriesNames.forEach((name, i) => series.push({
      label: name, stroke: COLORS[i % COLORS.length], width: 2,
      fill: bars ? `${COLORS[i % COLORS.length]}bb` : undefined,
      paths: bars ? uPlot.paths.bars({ size: [0.7, 30] }) : undefined,
      points: { show: false },
    }));
    const plot = new uPlot({
      width, height: 220, series,
      scales: { x: { time: false, range: [-0.5, 23.5] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] } },
      axes: [{ values: (u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t).padStart(2, "0") : "")),
               incrs: [1, 2, 3, 6] },
             { size: 50, values: (u, ticks) => ticks.map((t) => fmt.format(t)) }],
      legend: { live: true },
    }, [HOURS, ...data], el);
    charts[key] = { plot, signature };
  }

  function hourlyBy(rows, key, top = 5) {
    const totals = new Map();
    for (const r of rows) totals.set(r[key], (totals.get(r[key]) || 0) + r.views);
    const names = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || (a < b ? -1 : 1));
    const shown = names.slice(0, top);
    const series = new Map(shown.map((n) => [n, HOURS.map(() => 0)]));
    if (names.length > top) series.set("other", HOURS.map(() => 0));
    for (const r of rows) {
      const target = series.get(shown.includes(r[key]) ? r[key] : "other");
      target[r.hour] += r.views;
    }
    const labels = [...series.keys()].map((n) => (n === "other" ? "other" : `${n} (${fmt.format(totals.get(n))})`));
    return { labels, data: [...series.values()] };
  }

  // ------------------------------------------------------------------------------------ pickers
  function fillCountries(rows) {
    const select = $("country");
    const options = rows.map((r) => ({ value: r.country_code || r.country, text: r.country }));
    if (state.country && !options.some((o) => o.value === state.country)) {
      options.push({ value: state.country, text: state.country });
    }
    const wanted = JSON.stringify(options);
    if (select.dataset.options !== wanted) {
      select.dataset.options = wanted;
      select.replaceChildren(...options.map((o) => new Option(o.text, o.value)));
    }
    if (!state.country && options.length) state.country = options[0].value;
    select.value = state.country;
  }

  function fillProducts(rows) {
    $("products").replaceChildren(...rows.map((r) => new Option(`${fmt.format(r.views)} views`, r.product_id)));
    if (!state.product && rows.length) state.product = rows[0].product_id;
    if (document.activeElement !== $("product")) $("product").value = state.product;
  }

  // ------------------------------------------------------------------------------------ freshness
  function showFreshness() {
    const box = $("freshness");
    const text = $("freshness-text");
    if (state.failing) {
      box.className = "fresh-stale";
      text.textContent = `no data: ${state.failing}`;
      return;
    }
    const asOf = state.lastAsOf;
    if (!asOf || !asOf.last_commit_at) {
      box.className = "fresh-unknown";
      text.textContent = "data as of: nothing loaded yet";
      return;
    }
    const now = Date.now() + state.clockOffsetMs;
    const age = Math.max(0, (now - Date.parse(asOf.last_commit_at)) / 1000);
    const staleAfter = state.config ? state.config.stale_after_s : 60;
    box.className = age > staleAfter ? "fresh-stale" : age > staleAfter / 4 ? "fresh-warn" : "fresh-ok";
    const newest = asOf.newest_event_time ? when(asOf.newest_event_time) : "—";
    text.textContent = `data as of ${newest} · committed ${ago(age)}${age > staleAfter ? " · STALE" : ""}`;
    box.title = `newest event ${asOf.newest_event_time} · last commit ${asOf.last_commit_at}`;
  }

  function when(iso) {
    const options = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
                      second: "2-digit", hourCycle: "h23", timeZoneName: "short" };
    try {
      return new Date(iso).toLocaleString("en-GB", { ...options, timeZone: state.tz || undefined });
    } catch (err) {  // a zone the browser does not know: its own
      return new Date(iso).toLocaleString("en-GB", options);
    }
  }

  function ago(seconds) {
    if (seconds < 60) return `${seconds.toFixed(0)} s ago`;
    if (seconds < 3600) return `${(seconds / 60).toFixed(0)} min ago`;
    return `${(seconds / 3600).toFixed(1)} h ago`;
  }

  // ------------------------------------------------------------------------------------ conversion
  const pct = (rate) => (rate === null || rate === undefined ? "—" : `${(100 * rate).toFixed(1)}%`);

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    return seconds < 60 ? `${seconds.toFixed(0)} s` : `${Math.floor(seconds / 60)} min ${(seconds % 60).toFixed(0)} s`;
  }

  async function refreshConversion(day) {
    const [visitors, sessions, funnel, campaigns, revenue, now] = await Promise.all(
      ["visitors", "sessions", "funnel", "campaigns", "revenue", "realtime"].map(
        (name) => api(`/api/kpis/${name}`, day).catch((err) => {
          if (err instanceof ApiError && err.status === 400) return { refused: err.message };
          throw err;
        })));
    const refused = [visitors, sessions].find((a) => a.refused);
    $("conversion-note").textContent = refused ? refused.refused : "visits, bounce, funnel in order, orders";
    const all = sessions.rows ? sessions.rows.all_storefronts : {};
    $("tile-visitors").textContent = visitors.rows ? fmt.format(visitors.rows.all_storefronts) : "—";
    $("tile-now").textContent = now.rows ? fmt.format(now.rows.all_storefronts) : "—";
    $("tile-visits").textContent = all.visits !== undefined ? fmt.format(all.visits) : "—";
    $("tile-bounce").textContent = pct(all.bounce_rate);
    $("tile-duration").textContent = duration(all.average_duration_s);
    $("tile-pages").textContent = all.pages_per_visit ? all.pages_per_visit.toFixed(2) : "—";
    $("tile-orders").textContent = revenue.rows
      ? fmt.format(revenue.rows.by_currency.reduce((n, r) => n + r.orders, 0)) : "—";
    const steps = funnel.rows ? funnel.rows.steps : [];
    renderTable("funnel", steps, (r) => `${r.step} · ${pct(r.from_previous)} of previous`, (r) => r.visits);
    const money = revenue.rows ? revenue.rows.by_currency : [];
    renderTable("revenue", money, (r) => `${r.currency} · ${fmt.format(r.orders)} orders · avg ${r.average_order_value}`,
                (r) => Number(r.revenue), (r) => r.revenue);
    const sources = campaigns.rows || [];
    renderTable("campaigns", sources.slice(0, 10), (r) => [r.referrer_class, r.referrer_domain, r.utm_source,
      r.utm_medium, r.utm_campaign].filter(Boolean).join(" · ") + ` · bounce ${pct(r.bounce_rate)}`
      + (r.revenue || []).map((m) => ` · ${m.revenue} ${m.currency}`).join(""),
    (r) => r.visits);
  }

  // ------------------------------------------------------------------------------------ refresh
  async function refresh() {
    clearTimeout(timer);
    const day = { date: state.day, tz: state.tz };
    try {
      const [products, countries, referrers, browserOs, stats] = await Promise.all([
        api("/api/kpis/top-products", day), api("/api/kpis/top-countries", day),
        api("/api/kpis/top-referrers", day), api("/api/kpis/browser-os-hourly", day), api("/api/stats"),
      ]);
      fillCountries(countries.rows);
      fillProducts(products.rows);
      await refreshConversion(day);
      const [stores, hourly] = await Promise.all([
        state.country ? api("/api/kpis/stores-by-country", { ...day, country: state.country }) : null,
        state.product ? api("/api/kpis/product-hourly", { ...day, product_id: state.product }) : null,
      ]);
      renderTable("top-products", products.rows, (r) => r.product_id);
      renderTable("top-countries", countries.rows, (r) => (r.country_code ? `${r.country} (${r.country_code})` : r.country));
      renderTable("top-referrers", referrers.rows, (r) => r.referrer_url);
      renderTable("stores-by-country", stores ? stores.rows : [], (r) => r.store_id);
      const views = hourly ? hourly.rows.map((r) => r.views) : HOURS.map(() => 0);
      drawChart("product", $("product-chart"), [`product ${state.product || "—"}`], [views], true);
      $("product-total").textContent = `${fmt.format(views.reduce((a, b) => a + b, 0))} views`;
      const byBrowser = hourlyBy(browserOs.rows.by_browser, "browser");
      const byOs = hourlyBy(browserOs.rows.by_os, "os");
      drawChart("browser", $("browser-chart"), byBrowser.labels, byBrowser.data, false);
      drawChart("os", $("os-chart"), byOs.labels, byOs.data, false);
      $("summary").textContent = `${products.date} (${products.tz}) · ${fmt.format(stats.events_loaded)} events `
        + `loaded · ${fmt.format(stats.quarantined)} quarantined · ${fmt.format(stats.duplicates_skipped)} `
        + `duplicates skipped · views = ${products.view_collections.join(", ")}`
        + (products.include_bots ? " · bots included" : " · bots excluded");
      state.lastAsOf = products.as_of;
      state.failing = null;
      showError(null);
    } catch (err) {
      handleError(err);
    }
    showFreshness();
    timer = setTimeout(refresh, 1000 * (state.config ? state.config.refresh_s : 2));
  }

  function handleError(err) {
    if (err instanceof ApiError && err.status === 401) {
      $("token-form").hidden = false;
      state.failing = "a bearer token is needed";
    } else if (err instanceof ApiError && err.status >= 400 && err.status < 500) {
      state.failing = null;  // our own parameters were refused: the data itself is fine
    } else {
      state.failing = err instanceof ApiError ? err.message : "the API is unreachable";
    }
    showError(err.message);
  }

  function showError(message) {
    $("error").hidden = !message;
    $("error").textContent = message || "";
  }

  function remember() {
    const query = new URLSearchParams();
    for (const [k, v] of [["date", state.day], ["tz", state.tz], ["country", state.country],
                          ["product_id", state.product]]) if (v) query.set(k, v);
    history.replaceState(null, "", `${location.pathname}${query.size ? `?${query}` : ""}`);
  }

  function onChange(update) {
    return (event) => { update(event.target.value.trim()); remember(); refresh(); };
  }

  async function start() {
    try {
      state.config = await api("/api/page");
      state.clockOffsetMs = Date.parse(state.config.server_time) - Date.now();
      $("token-form").hidden = true;
    } catch (err) {
      handleError(err);
      showFreshness();
      return;
    }
    const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    $("zones").replaceChildren(...["UTC", ...zones].map((z) => new Option(z)));
    state.tz = state.tz || state.config.tz;
    $("tz").value = state.tz;
    $("day").value = state.day;
    $("day").addEventListener("change", onChange((v) => { state.day = v; }));
    $("today").addEventListener("click", () => { $("day").value = ""; state.day = ""; remember(); refresh(); });
    $("tz").addEventListener("change", onChange((v) => { state.tz = v || state.config.tz; }));
    $("country").addEventListener("change", onChange((v) => { state.country = v; }));
    $("product").addEventListener("change", onChange((v) => { state.product = v; }));
    setInterval(showFreshness, 1000);
    refresh();
  }

  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("pulse_token", state.token);
    start();
  });
  start();
})();
