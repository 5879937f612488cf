// What every page does on load (texts, title, navigation, logout), and the helpers the page
// scripts share: status lines, error texts, form checks.

import { ApiError, endSession, pagePath, session, tenant } from './api.js';
import { applyTexts, t } from './i18n.js';

const CABINET_PAGES = new Set(['my', 'dialogs', 'dialog', 'saved', 'profile']);

export const $ = (selector, root = document) => root.querySelector(selector);

/** Fill the texts, the title and the navigation for the visitor's state. */
export function boot() {
  const page = document.body.dataset.page;
  applyTexts();
  document.title = `${t(`title.${page}`)} · ${tenant.name}`;
  refreshNavigation();
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === page || (link.dataset.nav === 'my' && CABINET_PAGES.has(page))) link.setAttribute('aria-current', 'page');
  }
  for (const button of document.querySelectorAll('[data-action="logout"]')) {
    button.addEventListener('click', () => {
      endSession();
      window.location.assign(pagePath('/chat'));
    });
  }
  // Links to the login page bring the visitor back here afterwards.
  const login = $('[data-nav="login"]');
  if (login && page !== 'login') login.href = loginHref();
}

export function refreshNavigation() {
  const state = session() ? 'account' : 'guest';
  for (const element of document.querySelectorAll('[data-when]')) {
    element.hidden = element.dataset.when !== state;
  }
}

/** The login page, with `next` pointing back at the current page. */
export function loginHref() {
  const here = window.location.pathname + window.location.search;
  return `${pagePath('/login')}?next=${encodeURIComponent(here)}`;
}

/** `next` if it is a page of this tenant on this site (never another origin), else null. */
export function safeNext(raw) {
  if (typeof raw !== 'string' || !raw.startsWith(`/${tenant.slug}/`) || raw.includes('\\')) return null;
  try {
    const url = new URL(raw, window.location.origin);
    if (url.origin !== window.location.origin || !url.pathname.startsWith(`/${tenant.slug}/`)) return null;
    return url.pathname + url.search + url.hash;
  } catch {
    return null;
  }
}

/** Show `text` in a status element (hidden when empty); `kind` is 'error', 'ok' or 'info'. */
export function showStatus(element, text, kind = 'error') {
  element.textContent = text || '';
  element.dataset.kind = kind;
  element.hidden = !text;
}

/** What to tell the visitor about a failed call, in the page's language. */
export function errorText(error) {
  if (!(error instanceof ApiError)) return t('error.server');
  switch (error.status) {
    case 0:
      return t('error.network');
    case 429:
      if (error.code === 'quota_exceeded') return t('error.quotaExceeded');
      return error.retryAfter ? t('error.rateLimited', { seconds: error.retryAfter }) : t('error.rateLimitedSoon');
    case 502:
    case 504:
      return t('error.llmUnreachable');
    case 503:
      return error.code === 'llm_not_configured' ? t('error.llmNotConfigured') : t('error.unavailable');
    case 401:
      return t('error.sessionExpired');
    case 404:
      return t('error.notFound');
    case 400:
    case 413:
      return invalidText(error);
    default:
      return t('error.server');
  }
}

function invalidText(error) {
  if (error.code === 'message_too_long') return t('error.messageTooLong');
  if (error.code === 'message_blank') return t('error.emptyMessage');
  const field = (error.body.errors ?? [])
    .map((item) => (item.loc ?? []).filter((part) => t(`field.${part}`) !== `field.${part}`).pop())
    .find(Boolean);
  if (field === 'message') return t('error.messageTooLong');
  return field ? t('error.invalidField', { field: t(`field.${field}`) }) : t('error.invalid');
}

/** Check a form's fields before sending; marks each wrong field with a message and focuses
 * the first one. Returns true when the form may be sent. */
export function checkForm(form) {
  let first = null;
  for (const input of form.querySelectorAll('input, textarea')) {
    const problem = fieldProblem(form, input);
    setFieldError(input, problem);
    if (problem && !first) first = input;
  }
  first?.focus();
  return first === null;
}

function fieldProblem(form, input) {
  const value = input.value;
  if (input.required && !value.trim()) return t('error.required');
  if (!value) return null;
  if (input.type === 'email' && (input.validity.typeMismatch || !/^[^@\s]+@[^@\s]+$/.test(value))) return t('error.email');
  if (input.minLength > 0 && value.length < input.minLength) return t('error.passwordShort');
  if (input.maxLength > 0 && value.length > input.maxLength) return t('error.tooLong');
  const same = input.dataset.sameAs && form.elements.namedItem(input.dataset.sameAs);
  if (same && same.value !== value) return t('error.passwordMismatch');
  return null;
}

/** Show (or clear, with a null text) the message under a field, tied to it for screen readers. */
export function setFieldError(input, text) {
  const id = `${input.id}-error`;
  let note = document.getElementById(id);
  const described = (input.getAttribute('aria-describedby') ?? '').split(' ').filter((part) => part && part !== id);
  if (!text) {
    note?.remove();
    input.removeAttribute('aria-invalid');
    setDescribedBy(input, described);
    return;
  }
  if (!note) {
    note = document.createElement('small');
    note.id = id;
    note.className = 'field-error';
    input.insertAdjacentElement('afterend', note);
  }
  note.textContent = text;
  input.setAttribute('aria-invalid', 'true');
  setDescribedBy(input, [...described, id]);
}

function setDescribedBy(input, ids) {
  if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
  else input.removeAttribute('aria-describedby');
}

/** Put server-side validation errors (`errors[].loc`) on the fields they name; true if any. */
export function showServerErrors(form, error) {
  let shown = false;
  for (const item of error.body?.errors ?? []) {
    const name = (item.loc ?? []).at(-1);
    const input = typeof name === 'string' ? form.elements.namedItem(name) : null;
    if (input instanceof HTMLElement) {
      setFieldError(input, t('error.invalidField', { field: t(`field.${name}`) }));
      shown = true;
    }
  }
  return shown;
}

/** Disable a form's controls while a request runs. */
export function setBusy(form, busy) {
  for (const control of form.querySelectorAll('button, input, textarea')) control.disabled = busy;
  form.setAttribute('aria-busy', String(busy));
}

/** A new `tag` element with an optional class and text. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A `type="button"` button (never submits its form). */
export function button(className, text) {
  const node = element('button', className, text);
  node.type = 'button';
  return node;
}
