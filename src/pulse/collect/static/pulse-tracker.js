/*! pulse-tracker: storefront behaviour -> pulse events. Plain ES2017, no dependencies. */
(function (w, d) {
  'use strict';
  if (w.pulse && w.pulse.loaded) return;
  var DEVICE_KEY = 'pulse_device_id';
  var RETRY_KEY = 'pulse_retry';
  var PAGE_COLLECTIONS = {
    home: 'view_home_page', listing: 'view_listing_page', landing: 'view_landing_page',
    cart: 'view_shopping_cart', account: 'view_my_account', checkout: 'checkout',
    success: 'checkout_success', search: 'search_box_action', static: 'view_static_page'
  };
  var script = d.currentScript;
  var data = (script && script.dataset) || {};
  var opts = w.pulseConfig || {};
  var cfg = {
    endpoint: opts.endpoint || data.endpoint || '/collect',
    storeId: opts.storeId || data.storeId || meta('store_id'),
    consent: String(opts.consent !== undefined ? opts.consent : data.consent) === 'true',
    auto: String(opts.auto !== undefined ? opts.auto : data.auto) !== 'false',
    batchMs: 1000,
    maxBatch: 20,
    maxRetry: 100
  };
  var queue = [];
  var retry = [];
  var timer = 0;
  var backoff = 1000;

  function meta(name) {
    var el = d.querySelector('meta[name="pulse:' + name + '"]');
    return el ? el.content : undefined;
  }

  function store() {
    try { return w.localStorage; } catch (e) { return null; }
  }

  function session() {
    try { return w.sessionStorage; } catch (e) { return null; }
  }

  // Consent: a device id is written only after consent; one already stored means consent was given.
  var consent = cfg.consent || !!(store() && store().getItem(DEVICE_KEY));

  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var b = w.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function deviceId() {
    var s = consent && store();
    if (!s) return undefined;
    var id = s.getItem(DEVICE_KEY);
    if (!id) {
      id = uuid();
      s.setItem(DEVICE_KEY, id);
    }
    return id;
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function localTime(t) {
    return t.getFullYear() + '-' + pad(t.getMonth() + 1) + '-' + pad(t.getDate()) + ' ' +
      pad(t.getHours()) + ':' + pad(t.getMinutes()) + ':' + pad(t.getSeconds());
  }

  function event(collection, fields) {
    var now = new Date();
    var e = {
      id: uuid(),
      collection: collection,
      time_stamp: Math.floor(now.getTime() / 1000),
      local_time: localTime(now),
      api_version: '1.0',
      current_url: w.location.href,
      referrer_url: d.referrer,
      resolution: w.screen.width + 'x' + w.screen.height
    };
    if (cfg.storeId) e.store_id = String(cfg.storeId);
    var device = deviceId();
    if (device) e.device_id = device;
    for (var k in fields) if (fields[k] !== undefined) e[k] = fields[k];
    return e;
  }

  function track(collection, fields, now) {
    queue.push(event(collection, fields || {}));
    if (now || queue.length >= cfg.maxBatch) flush();
    else if (!timer) timer = setTimeout(flush, cfg.batchMs);
  }

  function flush() {
    clearTimeout(timer);
    timer = 0;
    var events = retry.concat(queue);
    retry = [];
    queue = [];
    saveRetry();
    for (var i = 0; i < events.length; i += cfg.maxBatch) send(events.slice(i, i + cfg.maxBatch));
  }

  // sendBeacon first (survives the page being closed); fetch with keepalive when the beacon is refused.
  function send(events) {
    var body = JSON.stringify(events);
    var nav = w.navigator;
    try {
      if (nav.sendBeacon && nav.sendBeacon(cfg.endpoint, new Blob([body], { type: 'text/plain' }))) return;
    } catch (e) { /* fall through to fetch */ }
    if (!w.fetch) return later(events);
    w.fetch(cfg.endpoint, {
      method: 'POST', body: body, keepalive: true, credentials: 'omit', mode: 'cors',
      headers: { 'Content-Type': 'text/plain' }
    }).then(function (r) {
      if (r.status === 429 || r.status >= 500) later(events);
      else backoff = 1000;
    }, function () { later(events); });
  }

  // A small retry queue: newest events kept, exponential backoff, kept for the tab only with consent.
  function later(events) {
    retry = retry.concat(events).slice(-cfg.maxRetry);
    saveRetry();
    setTimeout(flush, backoff);
    backoff = Math.min(backoff * 2, 60000);
  }

  function saveRetry() {
    var s = session();
    if (!s) return;
    if (consent && retry.length) s.setItem(RETRY_KEY, JSON.stringify(retry));
    else s.removeItem(RETRY_KEY);
  }

  function loadRetry() {
    var s = session();
    try { retry = (consent && s && JSON.parse(s.getItem(RETRY_KEY) || '[]')) || []; } catch (e) { retry = []; }
    if (retry.length) setTimeout(flush, 0);
  }

  function setConsent(granted) {
    consent = !!granted;
    if (!consent) {
      var s = store();
      if (s) s.removeItem(DEVICE_KEY);
      retry = [];
      saveRetry();
    } else {
      deviceId();
    }
  }

  function dataFields(el) {
    var out = {};
    for (var k in el.dataset) {
      if (k.indexOf('pulse') === 0 && k !== 'pulseClick' && k !== 'pulseAddToCart') {
        out[k.slice(5).replace(/[A-Z]/g, function (c) { return '_' + c.toLowerCase(); }).replace(/^_/, '')] =
          el.dataset[k];
      }
    }
    return out;
  }

  function productId() {
    var el = d.querySelector('[data-pulse-product-id]:not([data-pulse-click]):not([data-pulse-add-to-cart])');
    return meta('product_id') || (el ? el.getAttribute('data-pulse-product-id') : undefined);
  }

  function options() {
    return Array.prototype.map.call(d.querySelectorAll('select[data-pulse-option]'), function (s) {
      var o = s.options[s.selectedIndex];
      return {
        option_label: s.getAttribute('data-pulse-option'), option_id: s.getAttribute('data-pulse-option-id') || '',
        value_label: o ? o.text : '', value_id: s.value
      };
    });
  }

  function pageView() {
    var product = productId();
    var collection = meta('collection') || (product ? 'view_product_detail' : PAGE_COLLECTIONS[meta('page')]) ||
      'view_static_page';
    var fields = { product_id: product, cat_id: meta('cat_id'), order_id: meta('order_id') };
    if (collection === 'checkout') fields.checkout_step = meta('checkout_step');
    track(collection, fields);
  }

  function onClick(e) {
    var el = e.target.closest && e.target.closest('[data-pulse-click],[data-pulse-add-to-cart]');
    if (!el) return;
    var fields = dataFields(el);
    if (el.hasAttribute('data-pulse-add-to-cart')) {
      fields.product_id = fields.product_id || productId();
      fields.option = options();
      track('add_to_cart_action', fields, true);
    } else {
      track(el.getAttribute('data-pulse-click'), fields, true);
    }
  }

  function onSubmit(e) {
    var form = e.target;
    if (!form.hasAttribute || !form.hasAttribute('data-pulse-search')) return;
    var input = form.querySelector('input[type=search],input[name=q],input[type=text]');
    track('search_box_action', { key_search: input ? input.value : '' }, true);
  }

  var commands = {
    consent: setConsent,
    track: track,
    flush: flush,
    page: pageView,
    checkout: function (step, fields) {
      var f = fields || {};
      f.checkout_step = step;
      track('checkout', f, true);
    }
  };

  function api(name) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (commands[name]) return commands[name].apply(null, args);
  }

  var stub = w.pulse && w.pulse.q;
  api.loaded = true;
  w.pulse = api;
  loadRetry();
  d.addEventListener('click', onClick, true);
  d.addEventListener('submit', onSubmit, true);
  d.addEventListener('visibilitychange', function () { if (d.visibilityState === 'hidden') flush(); });
  w.addEventListener('pagehide', flush);
  if (stub) for (var i = 0; i < stub.length; i++) api.apply(null, stub[i]);
  if (cfg.auto) {
    if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', pageView);
    else pageView();
  }
})(window, document);
