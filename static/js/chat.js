// The chat page: sends a message, shows the answer as it streams in, keeps the dialog going.
//
// The answer arrives as SSE over a POST (meta, content deltas, done | error). While it streams
// the text so far is rendered as markdown in the page (answer.js: the same renderer as the
// server's, re-rendered at most once an animation frame, less often when an answer grows
// long); after `done` the dialog is fetched again and the answers are shown with the server's
// HTML, which is the same. The answer does not depend on the page: a stream lost to the
// network is opened again from the last text event received (`GET …/chat/{id}/stream`), and a
// page (re)loaded while an answer is being written shows the text so far and keeps painting.
// A question whose answer failed offers Retry: the regenerate route answers it again when the
// server stored it (an answer that broke off, or a question stored without one), else it is
// sent again.

import {
  ApiError, api, apiPath, failure, guestId, identityHeaders, pagePath, session, storage, tenant,
} from './api.js';
import {
  $, boot, button as newButton, errorText, refreshNavigation, showStatus,
} from './common.js';
import { watchLength } from './composer.js';
import { initEmbed, tellParent } from './embed.js';
import { t } from './i18n.js';
import { addAnswerActions, showAnswer, showSources } from './answer.js';
import { messageElement, setMessageStatus, showDialogPage } from './messages.js';
import { readEvents } from './sse.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const REOPEN_ATTEMPTS = 3; // a stream lost mid-answer is opened again this many times
const REOPEN_DELAY_MS = 1000; // ... waiting this long, then twice, three times as long
const BUSY_ATTEMPTS = 6; // a chat refused 503 `busy` (a crowd is let in) is sent this many times
// A long answer is rendered again less often: its last rendering's cost times this, between
// two renderings, keeps the page's time spent on it to a small share of each second.
const PAINT_COST_FACTOR = 4;

const log = $('#messages');
const form = $('#composer');
const input = $('#message');
const sendButton = $('#send');
const stopButton = $('#stop');
const status = $('#chat-status');
const quickReplies = $('#quick-replies');
const announcer = $('#answer-announcer');
const length = watchLength(input, $('#message-length'), tenant.locale);

let dialogId = storage.get('dialog');
let controller = null;

function rememberDialog(id) {
  dialogId = id;
  if (id) storage.set('dialog', id);
  else storage.remove('dialog');
}

function scrollToEnd() {
  log.scrollTop = log.scrollHeight;
}

/** The welcome message, and under it the tenant's quick replies (`[tenants.<slug>.brand]`):
 * offered before the first question only. */
function showWelcome() {
  log.replaceChildren(messageElement({ role: 'assistant', content: tenant.welcome || t('chat.welcomeDefault') }));
  log.firstElementChild.classList.add('welcome');
  if (quickReplies) {
    quickReplies.hidden = false;
    log.append(quickReplies);
  }
}

/** Tell screen readers about a finished answer, once (the messages themselves are not
 * announced: that would read every piece as it streams in). */
function announceAnswer(answer, outcome) {
  const text = answer.isConnected ? answer.querySelector('.bubble')?.textContent.trim() : '';
  if (!text) return;
  const shown = { stopped: 'stopped', error: 'error' }[outcome] ?? 'interrupted';
  const note = outcome === 'complete' ? '' : ` (${t(`status.${shown}`)})`;
  announcer.textContent = `${t('chat.assistant')}: ${text}${note}`;
  tellParent('answer');
}

/** Show the stored dialog (with formatted answers); a dialog that is gone starts afresh. */
async function showDialog() {
  try {
    const path = `/me/dialogs/${dialogId}`;
    const dialog = await api(apiPath(path), { identity: true });
    const load = (before) => api(apiPath(`${path}?before=${before}`), { identity: true });
    showDialogPage(log, dialog, load, (error) => showStatus(status, errorText(error)));
    if (!dialog.messages.length) showWelcome();
    scrollToEnd();
    const last = log.lastElementChild;
    if (!controller && last?.dataset.role === 'assistant' && last.dataset.status === 'streaming') {
      resume(last);
    } else if (last?.dataset.role === 'user' && last.dataset.messageId) {
      offerRetry(last, () => answerAgain(last)); // stored, its answer failed before it began
    } else {
      offerRegenerate();
    }
  } catch (error) {
    if (error instanceof ApiError && [400, 401, 403, 404].includes(error.status)) {
      rememberDialog(null);
      showWelcome();
      if (error.status === 401) showStatus(status, t('error.sessionExpired'));
    } else {
      showStatus(status, errorText(error));
    }
  }
}

function setStreaming(streaming) {
  stopButton.hidden = !streaming;
  sendButton.hidden = streaming;
  $('#new-dialog').disabled = streaming;
  log.setAttribute('aria-busy', String(streaming));
}

function chatRequest(message) {
  const current = session();
  const body = { message };
  if (dialogId) body.dialog_id = dialogId;
  // Logged in: the token alone says who speaks. A guest names their id in the body.
  if (!current) body.user_id = guestId();
  const headers = { 'Content-Type': 'application/json' };
  if (current) headers.Authorization = `Bearer ${current.token}`;
  return { body: JSON.stringify(body), headers };
}

/** An answer bubble being painted: its markdown so far, the question it answers (when this
 * page asked it), the id of the last text event received, how it ended. */
function answerView(answer, question = null) {
  const bubble = answer.querySelector('.bubble');
  bubble.dataset.thinking = t('chat.thinking');
  bubble.replaceChildren();
  return {
    answer, question, bubble, markdown: '', lastId: '0', outcome: 'interrupted', frame: 0, nextPaint: 0,
  };
}

/** Render the answer's text so far at the next animation frame (once, however many deltas
 * arrive before it), or later while the last rendering was costly. */
function paint(view) {
  if (view.frame) return;
  view.frame = requestAnimationFrame((now) => {
    view.frame = 0;
    if (now < view.nextPaint) {
      paint(view);
      return;
    }
    paintNow(view);
  });
}

function paintNow(view) {
  cancelAnimationFrame(view.frame);
  view.frame = 0;
  const started = performance.now();
  showAnswer(view.bubble, view.markdown);
  const finished = performance.now();
  view.nextPaint = finished + (finished - started) * PAINT_COST_FACTOR;
  scrollToEnd();
}

/** Paint the events of `response` into `view`. */
async function follow(response, view) {
  for await (const event of readEvents(response.body)) {
    if (event.data === '[DONE]') break;
    const payload = JSON.parse(event.data);
    if (event.event === 'meta') {
      rememberDialog(payload.dialog_id);
      if (view.question) view.question.dataset.messageId = payload.user_message_id;
      view.answer.dataset.messageId = payload.message_id;
    } else if (event.event === 'sources') {
      showSources(view.answer, payload.sources);
    } else if (event.event === 'done') {
      view.outcome = payload.finish_reason === 'stopped' ? 'stopped' : 'complete';
    } else if (event.event === 'error') {
      view.outcome = 'error';
      showStatus(status, t('error.stream'));
    } else if (typeof payload.content === 'string') {
      view.markdown += payload.content;
      if (event.id !== null) view.lastId = event.id;
      paint(view);
    }
  }
}

/** A streamed answer from `path` (a chat route), the request abortable by Stop. */
async function openStream(path, { method = 'GET', headers = identityHeaders(), body } = {}) {
  let response;
  try {
    response = await fetch(apiPath(path), {
      method, body, headers: { ...headers, Accept: 'text/event-stream' }, signal: controller.signal,
    });
  } catch (error) {
    throw error.name === 'AbortError' ? error : new ApiError(0);
  }
  if (!response.ok) throw await failure(response, 'Authorization' in headers);
  return response;
}

/** The answer's stream again, from the last text event received. */
function reopen(view) {
  const id = encodeURIComponent(view.answer.dataset.messageId);
  return openStream(`/chat/${id}/stream?last_event_id=${encodeURIComponent(view.lastId)}`);
}

/** `open()`, sent again after its Retry-After while the service answers 503 `busy` (nothing
 * was stored: too many visitors were being let in at once), saying so meanwhile. */
async function patiently(open) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await open();
    } catch (error) {
      if (error.code !== 'busy' || attempt >= BUSY_ATTEMPTS) throw error;
      showStatus(status, t('chat.busy'));
      await new Promise((resolve) => { setTimeout(resolve, (error.retryAfter ?? 2) * 1000); });
      showStatus(status, '');
    }
  }
}

/** Paint the answer `open()` streams into `view` to its end: a stream lost to the network
 * (a TypeError while reading) is opened again where it stopped. `onFailure(error)` is told
 * of anything else that went wrong, but a stop that abandoned the request. */
async function stream(view, open, onFailure) {
  controller = new AbortController();
  setStreaming(true);
  try {
    let response = await patiently(open);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await follow(response, view);
        break;
      } catch (caught) {
        if (!(caught instanceof TypeError) || !view.answer.dataset.messageId
            || attempt > REOPEN_ATTEMPTS) throw caught;
        await new Promise((resolve) => { setTimeout(resolve, REOPEN_DELAY_MS * attempt); });
        response = await reopen(view);
      }
    }
  } catch (caught) {
    // A connection lost while reading the body rejects with a TypeError.
    const error = caught instanceof TypeError ? new ApiError(0) : caught;
    if (error.name !== 'AbortError') {
      view.outcome = 'failed';
      showStatus(status, errorText(error));
      if (error.status === 401) refreshNavigation();
      onFailure(error);
    }
  } finally {
    controller = null;
    setStreaming(false);
  }
  await finish(view);
}

/** Send `message` and stream the answer into a new assistant bubble. */
async function send(message) {
  showStatus(status, '');
  const question = messageElement({ role: 'user', content: message });
  const answer = messageElement({ role: 'assistant', content: '', status: 'streaming' });
  const view = answerView(answer, question);
  log.querySelector('.welcome')?.remove();
  quickReplies?.remove();
  log.querySelectorAll('.retry').forEach((offered) => offered.remove()); // a new question follows
  log.append(question, answer);
  scrollToEnd();

  const sentDialog = dialogId;
  const ask = () => openStream('/chat', { method: 'POST', ...chatRequest(message) });
  await stream(view, ask, (error) => {
    // 502/503: the message was saved in a dialog that the next message continues.
    if (error.body?.dialog_id) rememberDialog(error.body.dialog_id);
    if (error.body?.user_message_id) question.dataset.messageId = error.body.user_message_id;
    if (error.status === 404 && sentDialog) {
      // The dialog is gone (or belongs to someone else now): the next message starts anew.
      rememberDialog(null);
      showStatus(status, t('error.dialogGone'));
    }
    if (question.dataset.messageId) {
      // Stored: answered again by the regenerate route, never stored twice.
      if (!answer.dataset.messageId) offerRetry(question, () => answerAgain(question));
    } else if (RETRIED_STATUSES.has(error.status)) {
      // Not stored as far as the page knows (the network, or a proxy's timeout): sent again.
      offerRetry(question, () => {
        question.remove();
        return send(message);
      });
    } else {
      // Refused (too long, rate limited, ...): offer the text again.
      question.querySelector('.message-footer').textContent = t('chat.notSent');
      if (!input.value) input.value = message;
    }
  });
}

// Failures a Retry may cure: the network, the upstream (502, 504) or the service (503).
const RETRIED_STATUSES = new Set([0, 502, 503, 504]);

/** A "Retry" button under `question` (the dialog's last message): `retry()` asks again. */
function offerRetry(question, retry) {
  log.querySelectorAll('.retry').forEach((offered) => offered.remove());
  const offer = newButton('retry link-button', t('chat.retry'));
  offer.addEventListener('click', () => {
    if (controller) return;
    offer.remove();
    retry();
  });
  question.querySelector('.message-footer').append(offer);
}

/** Answer stored `question` anew, in a new bubble after it (it has no answer: its answer
 * failed before it began). */
async function answerAgain(question) {
  if (controller) return;
  showStatus(status, '');
  const answer = messageElement({ role: 'assistant', content: '', status: 'streaming' });
  const view = answerView(answer);
  log.append(answer);
  scrollToEnd();
  const id = encodeURIComponent(question.dataset.messageId);
  await stream(view, () => openStream(`/chat/${id}/regenerate`, { method: 'POST' }), (error) => {
    if (RETRIED_STATUSES.has(error.status)) offerRetry(question, () => answerAgain(question));
  });
}

/** Answer the question of `previous` (the dialog's latest answer) again, in a new bubble;
 * the earlier answer stays, superseded. */
async function regenerate(previous) {
  if (controller) return;
  showStatus(status, '');
  log.querySelectorAll('.regenerate').forEach((offered) => offered.remove());
  const answer = messageElement({ role: 'assistant', content: '', status: 'streaming' });
  const view = answerView(answer);
  previous.classList.add('superseded');
  log.append(answer);
  scrollToEnd();
  const id = encodeURIComponent(previous.dataset.messageId);
  await stream(view, () => openStream(`/chat/${id}/regenerate`, { method: 'POST' }), () => {
    previous.classList.remove('superseded');
  });
}

/** "Regenerate" (for an answer that broke off: "Retry") under the dialog's latest answer,
 * once it is written. */
function offerRegenerate() {
  log.querySelectorAll('.regenerate').forEach((offered) => offered.remove());
  const last = log.lastElementChild;
  if (last?.dataset.role !== 'assistant' || !last.dataset.messageId
      || last.dataset.status === 'streaming') return;
  const failed = last.dataset.status === 'error';
  const offer = newButton('regenerate link-button', t(failed ? 'chat.retry' : 'chat.regenerate'));
  offer.addEventListener('click', () => regenerate(last));
  const footer = last.querySelector('.message-footer');
  (footer.querySelector('.answer-actions') ?? footer).append(offer);
}

/** An answer still being written when the page was (re)loaded: its text so far, then live. */
async function resume(answer) {
  const view = answerView(answer);
  await stream(view, () => reopen(view), () => {});
}

/** Stop: the server stops the answer (on whichever instance streams it) and the stream ends
 * with `done`; before the answer has an id, or if that request fails, the request is
 * abandoned instead (the server then keeps the text so far as interrupted). */
async function stopAnswer() {
  const id = log.querySelector('.message.assistant[data-status="streaming"]')?.dataset.messageId;
  if (!id) {
    controller?.abort();
    return;
  }
  stopButton.disabled = true;
  try {
    await api(apiPath(`/chat/${encodeURIComponent(id)}/stop`), { method: 'POST', identity: true });
  } catch {
    controller?.abort();
  } finally {
    stopButton.disabled = false;
  }
}

async function finish(view) {
  const { answer, markdown, outcome } = view;
  delete view.bubble.dataset.thinking;
  if (markdown) paintNow(view); // the last deltas, now rather than at the next frame
  if ((outcome === 'complete' || (outcome === 'stopped' && markdown)) && dialogId) {
    setMessageStatus(answer, outcome);
    await showDialog();
    announceAnswer(log.lastElementChild, outcome);
  } else if (!markdown && outcome !== 'error') {
    answer.remove(); // stopped or failed before any text: nothing to keep
  } else {
    // The partial answer stays, marked; the server saved it the same way.
    setMessageStatus(answer, outcome === 'error' ? 'error' : 'interrupted');
    if (answer.dataset.messageId) addAnswerActions(answer, { id: answer.dataset.messageId, content: markdown });
    offerRegenerate();
    announceAnswer(answer, outcome);
  }
  input.focus();
}

function submit() {
  const message = input.value.trim();
  if (controller) return;
  if (!message) {
    showStatus(status, t('error.emptyMessage'));
    input.focus();
    return;
  }
  if (length.tooLong()) {
    showStatus(status, t('error.messageTooLong'));
    input.focus();
    return;
  }
  input.value = '';
  length.update();
  send(message);
}

function startNewDialog() {
  if (controller) return;
  rememberDialog(null);
  showStatus(status, '');
  showWelcome();
  input.focus();
}

function init() {
  // `?dialog=<id>` (from the cabinet) continues that dialog.
  const requested = new URLSearchParams(window.location.search).get('dialog');
  if (requested && UUID.test(requested)) {
    rememberDialog(requested);
    window.history.replaceState(null, '', pagePath('/chat'));
  }
  boot();
  if (dialogId) showDialog();
  else showWelcome();

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  stopButton.addEventListener('click', stopAnswer);
  $('#new-dialog').addEventListener('click', startNewDialog);
  for (const reply of quickReplies?.querySelectorAll('button') ?? []) {
    reply.addEventListener('click', () => {
      if (controller) return;
      input.value = reply.textContent;
      submit();
    });
  }
  initEmbed(input);
}

init();
