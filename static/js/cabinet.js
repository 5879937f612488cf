// The cabinet: overview, dialogs (paged), one dialog, saved items, profile. Guests use it with
// their local guest id, registered visitors with their token (their data on any device).

import { ApiError, api, apiPath, pagePath, session } from './api.js';
import {
  $, boot, checkForm, element, errorText, refreshNavigation, setBusy, showServerErrors, showStatus,
} from './common.js';
import { formatDate, t } from './i18n.js';
import { messageElement, showDialogPage } from './messages.js';

const PAGE_SIZE = 20;

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
  item.append(link);
  return item;
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
  dialogs: showDialogs,
  dialog: showDialog,
  saved: showSaved,
  profile: showProfile,
};

boot();
for (const heading of document.querySelectorAll('h1')) heading.tabIndex = -1;
PAGES[document.body.dataset.page]?.();
