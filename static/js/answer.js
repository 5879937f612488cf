// An assistant answer in the page: its formatted body, the sources it was given from (the
// tenant's documents, as expandable citations), and the actions under it once it is written
// (copy, rate with an optional comment, save / unsave).
//
// The body is the server's sanitized HTML when there is one, else the same rendering made in
// the page (static/js/markdown.js: the same library, set up the same way, so an answer still
// being written, stopped or cut off is never shown as raw markdown). Either way it is
// sanitized markdown (raw HTML off, only http(s)/mailto links), never raw model output.

import { api, apiPath } from './api.js';
import { button as newButton, element, errorText } from './common.js';
import { t } from './i18n.js';
import { markdownHtml } from './markdown.js';

const COPIED_FOR_MS = 2000; // how long a copy button says "Copied"
export const COMMENT_MAX_CHARS = 1000;

/** Show answer markdown `text` in `bubble` (`html`: the server's rendering of it, if any),
 * each code block with its own copy button. */
export function showAnswer(bubble, text, html = null) {
  bubble.classList.add('formatted');
  bubble.innerHTML = html ?? markdownHtml(text); // sanitized markdown, see above
  for (const pre of bubble.querySelectorAll('pre')) addCodeCopy(pre);
}

function addCodeCopy(pre) {
  const block = element('div', 'code-block');
  pre.replaceWith(block);
  const copy = newButton('copy-code', t('answer.copy'));
  copy.setAttribute('aria-label', t('answer.copyCode'));
  copy.addEventListener('click', () => copyText(copy, pre.textContent));
  block.append(copy, pre);
}

/** Put `text` on the clipboard and let `button` say so for a moment. */
async function copyText(button, text) {
  button.dataset.label ??= button.textContent; // what it says again afterwards
  const { label } = button.dataset;
  try {
    await writeClipboard(text);
    button.textContent = t('answer.copied');
  } catch {
    button.textContent = t('answer.copyFailed');
  }
  setTimeout(() => { button.textContent = label; }, COPIED_FOR_MS);
}

async function writeClipboard(text) {
  if (navigator.clipboard?.writeText) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // No Clipboard API (a page served over plain http away from localhost): the older way.
  const area = element('textarea', 'visually-hidden');
  area.value = text;
  area.setAttribute('readonly', '');
  document.body.append(area);
  area.select();
  const copied = document.execCommand('copy');
  area.remove();
  if (!copied) throw new Error('copy refused');
}

/** The knowledge-base chunks an answer was given from (`[{document, heading_path, excerpt}]`),
 * under its body in `article`: a "Sources" list whose entries open to their excerpt. Text
 * nodes only: a document's name and text are the tenant's, never markup. */
export function showSources(article, sources) {
  if (!sources?.length || article.querySelector('.answer-sources')) return;
  const box = element('details', 'answer-sources');
  box.append(element('summary', null, t('answer.sources', { n: sources.length })));
  const list = element('ol');
  for (const source of sources) {
    const item = element('details', 'source');
    const where = [source.document, ...(source.heading_path ?? [])].join(' › ');
    item.append(element('summary', null, where), element('p', 'source-excerpt', source.excerpt));
    const entry = element('li');
    entry.append(item);
    list.append(entry);
  }
  box.append(list);
  article.querySelector('.bubble').after(box);
}

/** The actions under a written answer `message` ({id, content, saved_item_id, feedback}),
 * shown in `article`: copy its markdown, rate it, save it. */
export function addAnswerActions(article, message) {
  const footer = article.querySelector('.message-footer');
  if (footer.querySelector('.answer-actions')) return;
  const row = element('div', 'answer-actions');
  row.setAttribute('role', 'group');
  row.setAttribute('aria-label', t('answer.actions'));
  const copy = newButton('copy link-button', t('answer.copy'));
  copy.setAttribute('aria-label', t('answer.copyAnswer'));
  copy.addEventListener('click', () => copyText(copy, message.content ?? ''));
  row.append(copy, ...ratingControls(message), saveControl(message));
  footer.append(row);
}

const feedbackPath = (id) => apiPath(`/messages/${encodeURIComponent(id)}/feedback`);

const SVG = 'http://www.w3.org/2000/svg';
// A thumb up, drawn here (an emoji would be a blank box where no emoji font is installed).
const THUMB_UP = 'M2 10h4v11H2zM8 21V10l4.5-8C14 2 15 3 15 4.5L14.2 9H20a2 2 0 0 1 2 2.3l-1.6 7.9A2.2 2.2 0 0 1 18.3 21z';

/** A thumb up or down icon, in the text's colour. */
function thumb(direction) {
  const icon = document.createElementNS(SVG, 'svg');
  icon.setAttribute('viewBox', '0 0 24 24');
  icon.setAttribute('width', '18');
  icon.setAttribute('height', '18');
  icon.setAttribute('aria-hidden', 'true');
  icon.setAttribute('focusable', 'false');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', THUMB_UP);
  path.setAttribute('fill', 'currentColor');
  if (direction === 'down') path.setAttribute('transform', 'rotate(180 12 12)');
  icon.append(path);
  return icon;
}

/** Thumbs up and down (pressed: the visitor's rating; pressed again: cleared), and, once
 * rated, a field for an optional comment. */
function ratingControls(message) {
  let rating = message.feedback ?? null;
  const comment = commentForm(message, () => rating);
  const buttons = ['up', 'down'].map((value) => {
    const rate = newButton(`rate rate-${value} link-button`, '');
    rate.append(thumb(value));
    rate.dataset.rating = value;
    rate.setAttribute('aria-label', value === 'up' ? t('answer.rateUp') : t('answer.rateDown'));
    rate.addEventListener('click', async () => {
      const next = rating === value ? null : value;
      for (const each of buttons) each.disabled = true;
      try {
        if (next) await api(feedbackPath(message.id), { method: 'POST', identity: true, body: { rating: next } });
        else await api(feedbackPath(message.id), { method: 'DELETE', identity: true });
        rating = next;
        show();
        if (next) comment.open();
        else comment.close();
      } catch (error) {
        rate.title = errorText(error);
      } finally {
        for (const each of buttons) each.disabled = false;
      }
    });
    return rate;
  });
  const show = () => {
    for (const each of buttons) each.setAttribute('aria-pressed', String(each.dataset.rating === rating));
  };
  show();
  return [...buttons, comment.form];
}

function commentForm(message, rating) {
  const form = element('form', 'feedback-comment');
  form.hidden = true;
  const input = element('input');
  input.type = 'text';
  input.maxLength = COMMENT_MAX_CHARS;
  input.placeholder = t('answer.commentPlaceholder');
  input.setAttribute('aria-label', t('answer.comment'));
  const send = element('button', 'secondary', t('answer.commentSend'));
  send.type = 'submit';
  const note = element('span', 'feedback-note');
  note.setAttribute('role', 'status');
  form.append(input, send, note);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!rating() || !input.value.trim()) return;
    send.disabled = true;
    try {
      await api(feedbackPath(message.id), {
        method: 'POST', identity: true, body: { rating: rating(), comment: input.value },
      });
      note.textContent = t('answer.thanks');
      input.value = '';
    } catch (error) {
      note.textContent = errorText(error);
    } finally {
      send.disabled = false;
    }
  });
  return {
    form,
    open() { form.hidden = false; note.textContent = ''; },
    close() { form.hidden = true; },
  };
}

/** "Save" (adds the answer to the visitor's saved items), or, once saved, "Saved" and
 * "Unsave" (removes it). */
function saveControl(message) {
  let itemId = message.saved_item_id ?? null;
  const box = element('span', 'save-control');
  const show = (problem = '') => {
    const action = newButton(itemId ? 'unsave link-button' : 'save link-button', t(itemId ? 'answer.unsave' : 'chat.save'));
    if (problem) action.title = problem;
    action.addEventListener('click', () => toggle(action));
    const parts = itemId ? [element('span', 'saved-note', t('chat.saved')), action] : [action];
    if (problem) parts.push(element('span', 'save-problem', problem));
    box.replaceChildren(...parts);
    return action;
  };
  const toggle = async (action) => {
    action.disabled = true;
    try {
      if (itemId) {
        await api(apiPath(`/me/saved/${encodeURIComponent(itemId)}`), { method: 'DELETE', identity: true });
        itemId = null;
      } else {
        const item = await api(apiPath('/me/saved'), {
          method: 'POST', identity: true, body: { type: 'message', reference_id: message.id },
        });
        itemId = item.id;
      }
      show().focus();
    } catch (error) {
      if (error.status === 404 && itemId) itemId = null; // already removed elsewhere
      show(errorText(error)).focus();
    }
  };
  show();
  return box;
}
