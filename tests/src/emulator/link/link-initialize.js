/*
 * plaid-emulator: an offline stand-in for Plaid Link's web SDK
 * (https://cdn.plaid.com/link/v2/stable/link-initialize.js), Identity Verification only.
 *
 *   var handler = Plaid.create({ token, onSuccess, onExit, onEvent, onLoad });
 *   handler.open(); handler.exit(); handler.destroy();
 *
 * open() shows a full-viewport overlay holding an iframe served by the emulator (the origin
 * this script was loaded from). The iframe walks the person through the session's steps and
 * posts Link's callbacks here; only messages from that iframe and that origin are accepted.
 * See tests/EMULATOR.md, "Link stand-in".
 */
(function () {
  'use strict';

  var SCRIPT_PATH = /\/link\/v2\/stable\/link-initialize\.js(?:[?#].*)?$/;

  function ownScript() {
    var s = document.currentScript;
    if (s && s.src && SCRIPT_PATH.test(s.src)) return s;
    var all = document.getElementsByTagName('script');
    for (var i = all.length - 1; i >= 0; i--) {
      if (all[i].src && SCRIPT_PATH.test(all[i].src)) return all[i];
    }
    return null;
  }

  var script = ownScript();
  if (!script) {
    if (window.console) console.error('plaid-emulator: cannot find the link-initialize.js script element');
    return;
  }
  var ORIGIN = new URL(script.src, window.location.href).origin;
  var FLOW_URL = ORIGIN + '/link/flow';
  var MESSAGE_SOURCE = 'plaid-link-emulator';

  // Calls a developer callback; an exception in it must not break Link, but is still reported.
  function call(fn) {
    if (typeof fn !== 'function') return;
    var args = Array.prototype.slice.call(arguments, 1);
    try {
      fn.apply(null, args);
    } catch (err) {
      setTimeout(function () { throw err; });
    }
  }

  function whenBody(fn) {
    if (document.body) fn();
    else document.addEventListener('DOMContentLoaded', fn, { once: true });
  }

  function create(config) {
    config = config || {};
    var token = typeof config.token === 'string' ? config.token : '';
    var parentOrigin = window.location.origin;

    var loaded = false;      // onLoad fired (once per handler, as Link does)
    var ready = false;       // the current iframe document is ready for messages
    var wantOpen = false;    // open() called before the iframe was ready
    var isOpen = false;
    var destroyed = false;
    var savedOverflow = null;
    var overlay = null;
    var iframe = null;

    function frameSrc() {
      return FLOW_URL + '?token=' + encodeURIComponent(token) +
        '&origin=' + encodeURIComponent(parentOrigin);
    }

    function build() {
      overlay = document.createElement('div');
      overlay.setAttribute('data-plaid-link-emulator', '');
      overlay.style.cssText = [
        'position:fixed', 'top:0', 'left:0', 'width:100%', 'height:100%',
        'z-index:2147483647', 'background:rgba(17,24,39,0.55)', 'display:none',
        'margin:0', 'padding:0', 'border:0'
      ].join(';');
      iframe = document.createElement('iframe');
      iframe.title = 'Plaid Link';
      iframe.name = 'plaid-link-emulator';
      iframe.setAttribute('allowtransparency', 'true');
      iframe.style.cssText = 'width:100%;height:100%;border:0;display:block;background:transparent;color-scheme:normal';
      iframe.src = frameSrc();
      overlay.appendChild(iframe);
      document.body.appendChild(overlay);
    }

    function post(msg) {
      if (!iframe || !iframe.contentWindow) return;
      msg.source = MESSAGE_SOURCE;
      iframe.contentWindow.postMessage(msg, ORIGIN);
    }

    function show() {
      if (!overlay) return;
      overlay.style.display = 'block';
      savedOverflow = document.body.style.overflow;
      document.body.style.overflow = 'hidden';
      isOpen = true;
      try { iframe.focus(); } catch (e) { /* ignore */ }
    }

    function hide() {
      if (!overlay) return;
      overlay.style.display = 'none';
      if (savedOverflow !== null) document.body.style.overflow = savedOverflow;
      savedOverflow = null;
      isOpen = false;
    }

    // After Link closes, load a fresh flow so that the next open() starts (or resumes) anew.
    function reload() {
      ready = false;
      if (iframe) iframe.src = frameSrc();
    }

    function onMessage(e) {
      if (destroyed || !iframe || e.source !== iframe.contentWindow || e.origin !== ORIGIN) return;
      var m = e.data;
      if (!m || typeof m !== 'object' || m.source !== MESSAGE_SOURCE) return;
      switch (m.type) {
        case 'ready':
          ready = true;
          if (!loaded) {
            loaded = true;
            call(config.onLoad);
          }
          if (wantOpen) {
            wantOpen = false;
            show();
            post({ type: 'open' });
          }
          break;
        case 'event':
          call(config.onEvent, m.eventName, m.metadata || {});
          break;
        case 'exit':
          hide();
          reload();
          call(config.onExit, m.error || null, m.metadata || {});
          break;
        case 'success':
          hide();
          reload();
          call(config.onSuccess, m.public_token === undefined ? null : m.public_token, m.metadata || {});
          break;
        default:
          break;
      }
    }

    window.addEventListener('message', onMessage);
    whenBody(function () { if (!destroyed) build(); });

    return {
      open: function () {
        if (destroyed || isOpen) return;
        if (!ready) {
          wantOpen = true; // Link delays open() until the module has loaded
          return;
        }
        show();
        post({ type: 'open' });
      },
      exit: function (options) {
        if (destroyed) return;
        wantOpen = false;
        if (!isOpen) return;
        post({ type: 'exit', force: !!(options && options.force) });
      },
      destroy: function () {
        if (destroyed) return;
        destroyed = true;
        hide();
        window.removeEventListener('message', onMessage);
        if (overlay && overlay.parentNode) overlay.parentNode.removeChild(overlay);
        overlay = null;
        iframe = null;
      },
      submit: function () { /* Layer / Embedded only: nothing to submit for Identity Verification */ }
    };
  }

  window.Plaid = window.Plaid || {};
  window.Plaid.create = create;
  window.Plaid.version = 'plaid-emulator';
  window.Plaid.emulator = { origin: ORIGIN };
})();
