// The cabinet: overview, dialogs (paged, renamed, deleted with undo, searched, downloaded),
// one dialog, saved items, profile. Guests use it with their local guest id, registered
// visitors with their token (their data on any device).

import { ApiError, api, apiPath, failure, identityHeaders, pagePath, session } from './api.js';
import {
  $, boot, button, checkForm, element, errorText, refreshNavigation, setBusy, showServerErrors, showStatus,
} from './common.js';
import { formatDate, t } from './i18n.js';
import { messageElement, showDialogPage } from './messages.js';

const PAGE_SIZE = 20;
// How long "Dialog deleted · Undo" stays; the server keeps a deleted dialog restorable for
// longer (`[limits] dialog_undo_seconds`, 30 s), so a late click still works.
const UNDO_MS = 10_000;
// A search snippet's matches arrive between these two characters (SPEC §6, Cabinet).
const MARK_START = '\uE000';
const MARK_END = '\uE001';

const status = () => $('#cabinet-status') ?? $('#form-status');

function fail(error) {
  showStatus(status(), errorText(error));
  if (error instanceof ApiError && error.status === 401) refreshNavigation();
}

const cabinetApi = (path, options = {}) => api(apiPath(path), { ...options, identity: true });

function currentPage() {
  const page = Number.parseInt(new URLSearchParams(window.location.search).get('page') ?? '1', 10);
  return Number.isFinite(page) && page > 0 ? page : 1;
}

/** The previous/next links and "page N of M" under a list. */
function showPager(total, page) {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const pager = $('#pager');
  pager.hidden = pages <= 1;
  $('#page-info').textContent = t('pager.page', { page, pages });
  for (const [link, target] of [[$('#prev'), page - 1], [$('#next'), page + 1]]) {
    if (target >= 1 && target <= pages) link.href = `?page=${target}`;
    else link.removeAttribute('href'); // a link without href is neither focusable nor clickable
  }
}

async function showOverview() {
  const who = $('#who');
  if (!session()) {
    who.textContent = t('my.guest');
    $('#guest-note').hidden = false;
    return;
  }
  try {
    const profile = await cabinetApi('/me/profile');
    who.textContent = t('my.account', { email: profile.email ?? '' });
  } catch (error) {
    fail(error);
    if (!session()) showOverview();
  }
}

function dialogItem(dialog) {
  const link = element('a', 'item-link');
  link.href = pagePath(`/my/dialogs/${dialog.id}`);
  link.append(element('strong', 'item-title', dialog.title || t('dialogs.untitled')));
  if (dialog.preview) link.append(element('span', 'item-preview', dialog.preview));
  const meta = [t('dialogs.count', { n: dialog.message_count }), t('dialogs.updated', { date: formatDate(dialog.updated_at) })];
  link.append(element('small', 'meta', meta.join(' · ')));
  const item = element('li', 'item');
  item.dataset.dialogId = dialog.id;
  const actions = element('div', 'item-actions dialog-actions');
  const rename = button('link-button rename', t('dialogs.rename'));
  rename.addEventListener('click', () => startRename(item, dialog));
  const download = button('link-button download', t('dialogs.downloadShort'));
  download.setAttribute('aria-label', t('dialogs.download'));
  download.addEventListener('click', () => downloadDialog(dialog.id, download));
  const remove = button('link-button danger delete', t('dialogs.delete'));
  remove.addEventListener('click', () => deleteDialog(item, dialog, remove));
  actions.append(rename, download, remove);
  item.append(link, actions);
  return item;
}

/** Put `dialog`'s entry back in place of `item`, its button `focus` focused. */
function showItem(item, dialog, focus) {
  const fresh = dialogItem(dialog);
  item.replaceWith(fresh);
  fresh.querySelector(focus)?.focus();
}

/** The title becomes a field: Enter saves (PATCH), Escape or Cancel gives the entry back. */
function startRename(item, dialog) {
  const form = element('form', 'rename-form');
  const input = element('input');
  input.id = `title-${dialog.id}`;
  input.name = 'title';
  input.required = true;
  input.maxLength = 200;
  input.autocomplete = 'off';
  input.value = dialog.title;
  const label = element('label', 'hint', t('dialogs.newTitle'));
  label.htmlFor = input.id;
  const save = element('button', '', t('dialogs.renameSave'));
  save.type = 'submit';
  const cancel = button('secondary', t('dialogs.renameCancel'));
  const row = element('div', 'item-actions');
  row.append(save, cancel);
  form.append(label, input, row);
  item.replaceChildren(form);
  cancel.addEventListener('click', () => showItem(item, dialog, '.rename'));
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') showItem(item, dialog, '.rename');
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!checkForm(form)) return;
    setBusy(form, true);
    try {
      const renamed = await cabinetApi(`/me/dialogs/${dialog.id}`, { method: 'PATCH', body: { title: input.value.trim() } });
      showItem(item, renamed, '.rename');
      showStatus(status(), t('dialogs.renamed'), 'ok');
    } catch (error) {
      setBusy(form, false);
      if (!showServerErrors(form, error)) fail(error);
    }
  });
  input.focus();
  input.select();
}

let undoTimer = null;

async function deleteDialog(item, dialog, control) {
  control.disabled = true;
  try {
    await cabinetApi(`/me/dialogs/${dialog.id}`, { method: 'DELETE' });
  } catch (error) {
    control.disabled = false;
    fail(error);
    return;
  }
  item.remove();
  offerUndo(dialog);
  await showDialogs();
}

/** "Dialog deleted · Undo" for UNDO_MS; Undo restores it (while the server still allows). */
function offerUndo(dialog) {
  const bar = $('#undo');
  const undo = $('#undo-button');
  clearTimeout(undoTimer);
  showStatus(status(), '');
  bar.hidden = false;
  undo.disabled = false;
  undo.onclick = async () => {
    undo.disabled = true;
    clearTimeout(undoTimer);
    try {
      await cabinetApi(`/me/dialogs/${dialog.id}/restore`, { method: 'POST' });
      bar.hidden = true;
      await showDialogs();
      showStatus(status(), t('dialogs.restored'), 'ok');
      document.querySelector(`[data-dialog-id="${dialog.id}"] .item-link`)?.focus();
    } catch (error) {
      bar.hidden = true;
      fail(error);
    }
  };
  undoTimer = setTimeout(() => {
    bar.hidden = true;
  }, UNDO_MS);
  undo.focus();
}

/** Download an API file as this visitor. The request must carry the identity headers, which
 * a plain link cannot send, so the file comes through fetch and leaves as a Blob URL. */
async function download(path, fallbackName) {
  const headers = identityHeaders();
  let response;
  try {
    response = await fetch(apiPath(path), { headers, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0);
  }
  if (!response.ok) throw await failure(response, 'Authorization' in headers);
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = element('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download has long started by then
}

async function downloading(control, path, name) {
  control.disabled = true;
  try {
    await download(path, name);
  } catch (error) {
    fail(error);
  } finally {
    control.disabled = false;
  }
}

const downloadDialog = (id, control) => downloading(control, `/me/dialogs/${id}/export.md`, `dialog-${id}.md`);

/** A snippet as text nodes, each match in a <mark>: the text is never parsed as HTML. */
function markedSnippet(match) {
  const line = element('span', 'item-preview snippet');
  line.append(element('span', 'snippet-role', `${t(match.role === 'user' ? 'chat.you' : 'chat.assistant')}: `));
  const [first, ...rest] = match.snippet.split(MARK_START);
  line.append(first.replaceAll(MARK_END, ''));
  for (const part of rest) {
    const end = part.indexOf(MARK_END);
    const marked = end < 0 ? part : part.slice(0, end);
    line.append(element('mark', '', marked), end < 0 ? '' : part.slice(end + 1).replaceAll(MARK_END, ''));
  }
  return line;
}

function foundItem(found) {
  const link = element('a', 'item-link');
  link.href = pagePath(`/my/dialogs/${found.id}`);
  link.append(element('strong', 'item-title', found.title || t('dialogs.untitled')));
  for (const match of found.messages) link.append(markedSnippet(match));
  const meta = [t('dialogs.matches', { n: found.matches }), t('dialogs.updated', { date: formatDate(found.updated_at) })];
  link.append(element('small', 'meta', meta.join(' · ')));
  const item = element('li', 'item found');
  item.dataset.dialogId = found.id;
  item.append(link);
  return item;
}

/** While a search is shown, the list (and its pager) steps aside. */
function showSearching(searching) {
  $('#search-results').hidden = !searching;
  $('#search-status').hidden = !searching;
  $('#search-clear').hidden = !searching;
  $('#dialog-list').hidden = searching;
  if (searching) {
    $('#pager').hidden = true;
    $('#empty').hidden = true;
  }
}

function setUpDialogs() {
  const form = $('#search-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const q = form.elements.q.value.trim();
    if (!q) return;
    try {
      const answer = await cabinetApi(`/me/dialogs/search?q=${encodeURIComponent(q)}`);
      $('#search-results').replaceChildren(...answer.items.map(foundItem));
      $('#search-status').textContent = answer.items.length ? t('dialogs.found', { n: answer.items.length }) : t('dialogs.notFound');
      showSearching(true);
    } catch (error) {
      if (!showServerErrors(form, error)) fail(error);
    }
  });
  $('#search-clear').addEventListener('click', async () => {
    form.elements.q.value = '';
    showSearching(false);
    await showDialogs();
    form.elements.q.focus();
  });
  const all = $('#export-all');
  all.addEventListener('click', () => downloading(all, '/me/dialogs/export.json', 'dialogs.json'));
  showDialogs();
}

async function showDialogs() {
  const page = currentPage();
  try {
    const answer = await cabinetApi(`/me/dialogs?limit=${PAGE_SIZE}&offset=${(page - 1) * PAGE_SIZE}`);
    $('#dialog-list').replaceChildren(...answer.items.map(dialogItem));
    $('#empty').hidden = answer.total > 0;
    showPager(answer.total, page);
  } catch (error) {
    fail(error);
  }
}

async function showDialog() {
  const id = decodeURIComponent(window.location.pathname.split('/').pop());
  try {
    const dialog = await cabinetApi(`/me/dialogs/${encodeURIComponent(id)}`);
    const title = dialog.title || t('dialogs.untitled');
    $('#dialog-title').textContent = title;
    document.title = `${title} · ${document.title}`;
    $('#dialog-meta').textContent = t('dialog.started', { date: formatDate(dialog.created_at) });
    const load = (before) => cabinetApi(`/me/dialogs/${encodeURIComponent(id)}?before=${before}`);
    showDialogPage($('#messages'), dialog, load, fail);
    const next = $('#continue');
    next.href = `${pagePath('/chat')}?dialog=${encodeURIComponent(dialog.id)}`;
    next.hidden = false;
    const save = $('#download');
    save.addEventListener('click', () => downloadDialog(dialog.id, save));
    save.hidden = false;
  } catch (error) {
    fail(error);
  }
}

function savedItem(item) {
  const entry = element('li', 'item saved-item');
  entry.dataset.savedId = item.id;
  if (item.message) {
    entry.append(messageElement({ ...item.message, status: 'complete' }, { saveable: false }));
  } else {
    entry.append(element('p', 'item-title', item.reference_id));
  }
  if (item.note) entry.append(element('p', 'item-preview', item.note));
  entry.append(element('small', 'meta', t('saved.at', { date: formatDate(item.created_at) })));
  const actions = element('div', 'item-actions');
  if (item.message) {
    const open = element('a', 'button secondary', t('saved.open'));
    open.href = pagePath(`/my/dialogs/${item.message.dialog_id}`);
    actions.append(open);
  }
  const remove = element('button', 'danger delete', t('saved.delete'));
  remove.type = 'button';
  remove.addEventListener('click', () => deleteSaved(entry, remove));
  actions.append(remove);
  entry.append(actions);
  return entry;
}

async function deleteSaved(entry, button) {
  button.disabled = true;
  try {
    await cabinetApi(`/me/saved/${entry.dataset.savedId}`, { method: 'DELETE' });
    const neighbour = entry.nextElementSibling ?? entry.previousElementSibling;
    entry.remove();
    showStatus(status(), t('saved.deleted'), 'ok');
    await showSaved();
    const focusTarget = neighbour?.isConnected ? neighbour.querySelector('.delete') : $('h1');
    focusTarget?.focus();
  } catch (error) {
    button.disabled = false;
    fail(error);
  }
}

async function showSaved() {
  const page = currentPage();
  try {
    const answer = await cabinetApi(`/me/saved?limit=${PAGE_SIZE}&offset=${(page - 1) * PAGE_SIZE}`);
    $('#saved-list').replaceChildren(...answer.items.map(savedItem));
    $('#empty').hidden = answer.total > 0;
    showPager(answer.total, page);
  } catch (error) {
    fail(error);
  }
}

function fillProfile(profile) {
  const form = $('#profile-form');
  form.elements.display_name.value = profile.display_name ?? '';
  form.elements.contact.value = profile.contact ?? '';
  $('#who').textContent = profile.email ? t('my.account', { email: profile.email }) : t('my.guest');
}

async function showProfile() {
  const form = $('#profile-form');
  setBusy(form, true);
  try {
    fillProfile(await cabinetApi('/me/profile'));
  } catch (error) {
    fail(error);
  } finally {
    setBusy(form, false);
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!checkForm(form)) return;
    const value = (name) => form.elements[name].value.trim() || null; // empty clears the field
    setBusy(form, true);
    try {
      const profile = await cabinetApi('/me/profile', {
        method: 'PATCH', body: { display_name: value('display_name'), contact: value('contact') },
      });
      fillProfile(profile);
      showStatus(status(), t('profile.saved'), 'ok');
    } catch (error) {
      if (!showServerErrors(form, error)) fail(error);
    } finally {
      setBusy(form, false);
    }
  });
}

const PAGES = {
  my: showOverview,
  dialogs: setUpDialogs,
  dialog: showDialog,
  saved: showSaved,
  profile: showProfile,
};

boot();
for (const heading of document.querySelectorAll('h1')) heading.tabIndex = -1;
PAGES[document.body.dataset.page]?.();
