// How a message of a dialog is shown, in the chat and in the cabinet.
//
// Model output and user text are untrusted: they only ever become text nodes. The one
// exception is an assistant message's body, which is sanitized markdown (raw HTML disabled,
// only http(s)/mailto links): the `html` the server sends, or the page's identical rendering
// of an answer the server has not rendered yet (one still being written), see answer.js.

import { addAnswerActions, showAnswer, showSources } from './answer.js';
import { button as newButton } from './common.js';
import { t } from './i18n.js';

const NOTED_STATUSES = new Set(['interrupted', 'stopped', 'error']);

/** An <article> for a message `{id, role, content, html, status, superseded, answer_number,
 * answers, saved_item_id, feedback}`; a written answer gets its actions (copy, rate, save)
 * unless `saveable` is false. */
export function messageElement(message, { saveable = true } = {}) {
  const article = document.createElement('article');
  article.className = `message ${message.role}`;
  article.dataset.role = message.role;
  if (message.id) article.dataset.messageId = message.id;

  const who = document.createElement('span');
  who.className = 'visually-hidden';
  who.textContent = `${t(message.role === 'user' ? 'chat.you' : 'chat.assistant')}: `;

  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  if (message.role === 'assistant' && (message.html || message.content)) {
    showAnswer(bubble, message.content ?? '', message.html || null);
  } else {
    bubble.textContent = message.content ?? '';
  }

  const footer = document.createElement('div');
  footer.className = 'message-footer';
  if (message.answers) {
    // A question answered more than once: which answer this is ("answer 1 of 2").
    const place = document.createElement('span');
    place.className = 'answer-place';
    place.textContent = t('chat.answerOf', { n: message.answer_number, count: message.answers });
    footer.append(place);
  }
  if (message.superseded) article.classList.add('superseded');
  article.append(who, bubble, footer);
  setMessageStatus(article, message.status ?? 'complete');
  if (message.role === 'assistant') showSources(article, message.sources);
  if (saveable && message.role === 'assistant' && message.id && message.status !== 'streaming') {
    addAnswerActions(article, message);
  }
  return article;
}

/** Show a dialog's newest page in `container`, under an "Earlier messages" button while older
 * ones remain; `load(before)` fetches the page before message `before`, `onError` is told
 * when that fails. */
export function showDialogPage(container, dialog, load, onError) {
  container.replaceChildren(...dialog.messages.map((message) => messageElement(message)));
  addEarlierButton(container, dialog, load, onError);
}

function addEarlierButton(container, page, load, onError) {
  if (!page.has_more || !page.messages.length) return;
  const button = newButton('secondary earlier', t('dialog.earlier'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const older = await load(page.messages[0].id);
      button.remove();
      container.prepend(...older.messages.map((message) => messageElement(message)));
      addEarlierButton(container, older, load, onError);
    } catch (error) {
      button.disabled = false;
      onError(error);
    }
  });
  container.prepend(button);
}

/** Mark a message's status (a note under it for anything but a complete answer). */
export function setMessageStatus(article, status) {
  article.dataset.status = status;
  const footer = article.querySelector('.message-footer');
  footer.querySelector('.message-note')?.remove();
  if (NOTED_STATUSES.has(status)) {
    const note = document.createElement('span');
    note.className = `message-note ${status}`;
    note.textContent = t(`status.${status}`);
    footer.prepend(note);
  }
}
