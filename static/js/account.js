// Accounts: register, log in (honouring `?next=`), confirm the email, forgotten password, reset.

import { ApiError, api, apiPath, existingGuestId, pagePath, startSession } from './api.js';
import {
  $, boot, checkForm, errorText, safeNext, setBusy, showServerErrors, showStatus,
} from './common.js';
import { t } from './i18n.js';

const status = () => $('#form-status');
const params = new URLSearchParams(window.location.search);

/** The `?token=` of a mailed link, taken out of the address bar (and so out of the history). */
function takeToken() {
  const token = params.get('token') ?? '';
  if (token) window.history.replaceState(null, '', window.location.pathname);
  return token;
}

/** Wire a form: check the fields, run `send(values)` while the form is busy, report failures
 * (field errors on the fields, anything else in the status line, or by `explain`). */
function onSubmit(form, send, explain = () => null) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showStatus(status(), '');
    if (!checkForm(form)) return;
    const values = Object.fromEntries(new FormData(form));
    setBusy(form, true);
    try {
      await send(values);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 400 && showServerErrors(form, error))) {
        showStatus(status(), explain(error) ?? errorText(error));
      }
    } finally {
      setBusy(form, false);
    }
  });
}

/** Replace a form by the outcome once it has done its work. */
function done(form, text) {
  form.hidden = true;
  showStatus(status(), text, 'ok');
  form.after(status());
  status().tabIndex = -1;
  status().focus();
}

function register() {
  const form = $('#register-form');
  onSubmit(form, async ({ email, password }) => {
    await api(apiPath('/register'), { method: 'POST', body: { email: email.trim(), password } });
    done(form, t('register.sent'));
  });
}

function login() {
  const form = $('#login-form');
  const resend = $('#resend');
  onSubmit(form, async ({ email, password }) => {
    resend.hidden = true;
    const body = { email: email.trim(), password };
    const guest = existingGuestId();
    if (guest) body.guest_user_id = guest; // the guest's history moves to the account
    startSession(await api(apiPath('/login'), { method: 'POST', body }));
    window.location.assign(safeNext(params.get('next')) ?? pagePath('/my'));
  }, (error) => {
    if (error.status === 401) return t('login.wrong');
    if (error.status === 403 && error.code === 'email_not_confirmed') {
      resend.hidden = false;
      return t('login.notConfirmed');
    }
    return null;
  });
  resend.addEventListener('click', async () => {
    resend.disabled = true;
    try {
      await api(apiPath('/resend-confirmation'), {
        method: 'POST', body: { email: form.elements.email.value.trim() },
      });
      showStatus(status(), t('login.resent'), 'ok');
      resend.hidden = true;
    } catch (error) {
      showStatus(status(), errorText(error));
    } finally {
      resend.disabled = false;
    }
  });
}

async function confirm() {
  const token = takeToken();
  try {
    if (!token) throw new ApiError(400);
    await api(`${apiPath('/confirm')}?token=${encodeURIComponent(token)}`);
    showStatus(status(), t('confirm.ok'), 'ok');
  } catch (error) {
    showStatus(status(), error.status === 400 ? t('confirm.bad') : errorText(error));
  }
  $('#confirm-next').hidden = false;
}

function forgot() {
  const form = $('#forgot-form');
  onSubmit(form, async ({ email }) => {
    await api(apiPath('/password/forgot'), { method: 'POST', body: { email: email.trim() } });
    done(form, t('forgot.sent'));
  });
}

function reset() {
  const form = $('#reset-form');
  const token = takeToken();
  if (!token) {
    form.hidden = true;
    showStatus(status(), t('reset.bad'));
    form.after(status());
    return;
  }
  onSubmit(form, async ({ password }) => {
    await api(apiPath('/password/reset'), { method: 'POST', body: { token, password } });
    done(form, t('reset.ok'));
    $('#reset-next').hidden = false;
  }, (error) => (error.status === 400 ? t('reset.bad') : null));
}

const PAGES = { register, login, confirm, forgot, reset };

boot();
PAGES[document.body.dataset.page]?.();
