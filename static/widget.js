// The chat on a company's own site:
//   <script src="https://CIP-HOST/widget.js" data-tenant="acme" async></script>
// adds a launcher button (in a shadow root: the site's styles do not reach it, its styles
// do not leak out) that opens the tenant's chat page in a frame (`/{slug}/chat?embed=1`).
// Open or closed is remembered in the site's localStorage, per tenant. The frame is created
// on the first opening only, so a visitor who never opens the chat loads nothing more.
//
// The page in the frame keeps the visitor's guest id in its own storage (partitioned by the
// site in current browsers: one id per site). Frame and site talk through postMessage, each
// side checking the other's origin: messages are taken from the CIP origin (the script's
// own) and this frame only; the chat page posts only to the origin it was told and the
// tenant allows. Messages: `ready`, `answer` (an answer finished: counted while closed),
// `close` (from the chat's close button); to the chat: `open`.
(() => {
  const script = document.currentScript;
  const slug = script?.dataset.tenant ?? '';
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(slug)) return;
  const cip = new URL(script.src).origin;
  const key = `cip-widget:${slug}:open`;
  const ru = (document.documentElement.lang || navigator.language || '').startsWith('ru');
  const text = ru
    ? { open: 'Открыть чат', close: 'Закрыть чат', title: 'Чат' }
    : { open: 'Open the chat', close: 'Close the chat', title: 'Chat' };
  const css = `
:host { all: initial; position: fixed; right: 16px; bottom: 16px; z-index: 2147483000;
  font: 16px/1.4 system-ui, sans-serif; --accent: #2456c7; --accent-text: #fff; }
.launcher { width: 56px; height: 56px; border-radius: 50%; border: none; cursor: pointer;
  background: var(--accent); color: var(--accent-text); box-shadow: 0 4px 14px rgba(0,0,0,.25);
  display: grid; place-items: center; position: relative; }
.launcher:focus-visible { outline: 3px solid #f2a900; outline-offset: 2px; }
.launcher svg { width: 28px; height: 28px; fill: currentColor; }
.badge { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px;
  border-radius: 10px; background: #b3261e; color: #fff; font-size: 12px; line-height: 20px;
  text-align: center; padding: 0 4px; }
.panel { position: fixed; right: 16px; bottom: 84px; width: 380px; height: min(600px, calc(100vh - 100px));
  border-radius: 12px; overflow: hidden; box-shadow: 0 8px 30px rgba(0,0,0,.3); background: #fff; }
.panel iframe { width: 100%; height: 100%; border: 0; display: block; }
[hidden] { display: none !important; }
@media (max-width: 480px) {
  .panel { inset: 0; width: auto; height: auto; border-radius: 0; }
  :host([data-open]) .launcher { display: none; }
}`;
  const icon = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z';
  const host = document.createElement('div');
  host.id = 'cip-widget';
  const root = host.attachShadow({ mode: 'open' });
  try {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } catch {
    const style = document.createElement('style');
    style.textContent = css;
    root.append(style);
  }
  const panel = document.createElement('div');
  panel.className = 'panel';
  panel.hidden = true;
  const launcher = document.createElement('button');
  launcher.type = 'button';
  launcher.className = 'launcher';
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  path.setAttribute('d', icon);
  svg.append(path);
  launcher.append(svg);
  const badge = document.createElement('span');
  badge.className = 'badge';
  badge.hidden = true;
  launcher.append(badge);
  root.append(panel, launcher);
  let frame = null;
  let unread = 0;

  const remember = (open) => {
    try {
      localStorage.setItem(key, open ? '1' : '0');
    } catch {
      // Storage refused: open or closed is kept for this visit only.
    }
  };
  const remembered = () => {
    try {
      return localStorage.getItem(key) === '1';
    } catch {
      return false;
    }
  };
  const post = (type) => frame?.contentWindow?.postMessage({ cip: type }, cip);
  const setOpen = (open, { focus = false } = {}) => {
    if (open && !frame) {
      frame = document.createElement('iframe');
      frame.title = text.title;
      const params = new URLSearchParams({ embed: '1', parent: window.location.origin });
      frame.src = `${cip}/${slug}/chat?${params}`;
      panel.append(frame);
    }
    panel.hidden = !open;
    launcher.setAttribute('aria-expanded', String(open));
    launcher.setAttribute('aria-label', open ? text.close : text.open);
    host.toggleAttribute('data-open', open);
    if (open) {
      unread = 0;
      badge.hidden = true;
      post('open');
    } else if (focus) {
      launcher.focus();
    }
    remember(open);
  };

  launcher.addEventListener('click', () => setOpen(panel.hidden));
  window.addEventListener('message', (event) => {
    if (!frame || event.origin !== cip || event.source !== frame.contentWindow) return;
    const type = event.data?.cip;
    if (type === 'ready') {
      host.dataset.ready = '1';
      if (!panel.hidden) post('open');
    } else if (type === 'close') {
      setOpen(false, { focus: true });
    } else if (type === 'answer' && panel.hidden) {
      unread += 1;
      badge.textContent = String(unread);
      badge.hidden = false;
    }
  });
  // The tenant's accent (its API answers this site when the tenant allows it).
  fetch(`${cip}/api/v1/tenants/by-slug/${slug}`, { credentials: 'omit' })
    .then((response) => (response.ok ? response.json() : null))
    .then((tenant) => {
      const colour = /^#[0-9a-f]{6}$/;
      const { accent, accent_text: onAccent } = tenant?.brand ?? {};
      if (colour.test(accent ?? '') && colour.test(onAccent ?? '')) {
        host.style.setProperty('--accent', accent);
        host.style.setProperty('--accent-text', onAccent);
      }
    })
    .catch(() => {});
  const place = () => {
    document.body.append(host);
    setOpen(remembered());
  };
  if (document.body) place();
  else document.addEventListener('DOMContentLoaded', place);
})();
