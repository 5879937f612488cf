// The chat inside the widget's frame (`/{slug}/chat?embed=1`, see /widget.js): it tells the
// page around it when it is ready and when an answer is in, and closes when asked.
//
// Messages go to the parent only, and only to the origin the server vouched for
// (`data-parent-origin`: the widget's `parent`, when the tenant's allowed origins admit it);
// a message is taken only from that window and that origin. Without one the page talks to
// nobody (it still works, framed by any allowed origin).

import { $ } from './common.js';

const data = document.body.dataset;
const parentOrigin = data.embed && window.parent !== window ? data.parentOrigin || '' : '';

/** Post `{cip: type, ...detail}` to the widget's page. */
export function tellParent(type, detail = {}) {
  if (parentOrigin) window.parent.postMessage({ cip: type, ...detail }, parentOrigin);
}

/** Wire the frame: the close button, the parent's messages (`open`: focus `input`). */
export function initEmbed(input) {
  if (!data.embed) return;
  const close = $('#close-embed');
  if (parentOrigin && close) {
    close.hidden = false;
    close.addEventListener('click', () => tellParent('close'));
  }
  window.addEventListener('message', (event) => {
    if (!parentOrigin || event.source !== window.parent || event.origin !== parentOrigin) return;
    if (event.data?.cip === 'open') input.focus();
  });
  tellParent('ready');
}
