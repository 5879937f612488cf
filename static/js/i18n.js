// Every text of the pages, Russian and English, in one place. The tenant's locale (the
// `data-locale` attribute of <body>) chooses the language; Russian is the default.

export const TEXTS = {
  ru: {
    'nav.skip': 'Перейти к содержимому',
    'nav.label': 'Разделы',
    'nav.chat': 'Чат',
    'nav.cabinet': 'Личный кабинет',
    'nav.login': 'Войти',
    'nav.register': 'Регистрация',
    'nav.logout': 'Выйти',

    'title.chat': 'Чат',
    'title.my': 'Личный кабинет',
    'title.dialogs': 'Мои диалоги',
    'title.dialog': 'Диалог',
    'title.saved': 'Сохранённое',
    'title.profile': 'Профиль',
    'title.register': 'Регистрация',
    'title.login': 'Вход',
    'title.confirm': 'Подтверждение почты',
    'title.forgot': 'Восстановление пароля',
    'title.reset': 'Новый пароль',

    'chat.label': 'Чат с ассистентом',
    'chat.heading': 'Чат',
    'chat.new': 'Новый диалог',
    'chat.messages': 'Сообщения',
    'chat.input': 'Ваше сообщение',
    'chat.placeholder': 'Напишите сообщение…',
    'chat.send': 'Отправить',
    'chat.stop': 'Остановить',
    'chat.hint': 'Enter — отправить, Shift+Enter — новая строка.',
    'chat.welcomeDefault': 'Здравствуйте! Чем могу помочь?',
    'chat.you': 'Вы',
    'chat.assistant': 'Ассистент',
    'chat.save': 'Сохранить',
    'chat.saved': 'Сохранено',
    'chat.notSent': 'Не отправлено',
    'chat.thinking': 'Ассистент печатает…',
    'chat.regenerate': 'Ответить заново',
    'chat.answerOf': 'Ответ {n} из {count}',

    'status.interrupted': 'Ответ прерван',
    'status.stopped': 'Ответ остановлен',
    'status.error': 'Ответ оборвался из-за ошибки',

    'my.heading': 'Личный кабинет',
    'my.guest': 'Вы пользуетесь сайтом как гость: история хранится в этом браузере.',
    'my.account': 'Вы вошли как {email}.',
    'my.guestNote': 'Зарегистрируйтесь, чтобы история была доступна на любом устройстве.',
    'my.registerLink': 'Зарегистрироваться',
    'my.dialogs': 'Диалоги',
    'my.dialogsHint': 'Все ваши разговоры с ассистентом',
    'my.saved': 'Сохранённое',
    'my.savedHint': 'Ответы, которые вы сохранили',
    'my.profile': 'Профиль',
    'my.profileHint': 'Имя и контакт для связи',

    'dialogs.heading': 'Мои диалоги',
    'dialogs.empty': 'Диалогов пока нет. Начните разговор в чате.',
    'dialogs.untitled': 'Без названия',
    'dialogs.count': { one: '{n} сообщение', few: '{n} сообщения', many: '{n} сообщений', other: '{n} сообщения' },
    'dialogs.updated': 'обновлён {date}',
    'dialogs.search': 'Поиск по диалогам',
    'dialogs.searchButton': 'Найти',
    'dialogs.searchClear': 'Сбросить',
    'dialogs.found': { one: 'Найден {n} диалог', few: 'Найдено {n} диалога', many: 'Найдено {n} диалогов', other: 'Найдено {n} диалога' },
    'dialogs.notFound': 'Ничего не найдено.',
    'dialogs.matches': { one: '{n} совпадение', few: '{n} совпадения', many: '{n} совпадений', other: '{n} совпадения' },
    'dialogs.rename': 'Переименовать',
    'dialogs.newTitle': 'Название диалога',
    'dialogs.renameSave': 'Сохранить',
    'dialogs.renameCancel': 'Отмена',
    'dialogs.renamed': 'Название сохранено.',
    'dialogs.delete': 'Удалить',
    'dialogs.deleted': 'Диалог удалён',
    'dialogs.undo': 'Отменить',
    'dialogs.restored': 'Диалог восстановлен.',
    'dialogs.download': 'Скачать (Markdown)',
    'dialogs.downloadShort': 'Скачать',
    'dialogs.exportAll': 'Скачать все диалоги (JSON)',

    'pager.label': 'Страницы',
    'pager.prev': '← Назад',
    'pager.next': 'Дальше →',
    'pager.page': 'Страница {page} из {pages}',

    'dialog.heading': 'Диалог',
    'dialog.continue': 'Продолжить в чате',
    'dialog.earlier': 'Показать более ранние сообщения',
    'dialog.started': 'начат {date}',

    'saved.heading': 'Сохранённое',
    'saved.empty': 'Здесь появятся ответы, которые вы сохраните в чате.',
    'saved.open': 'Открыть диалог',
    'saved.delete': 'Удалить',
    'saved.deleted': 'Удалено.',
    'saved.at': 'сохранено {date}',

    'profile.heading': 'Профиль',
    'profile.save': 'Сохранить',
    'profile.saved': 'Профиль сохранён.',
    'profile.contactHint': 'Телефон, мессенджер или другой способ связи.',

    'field.email': 'Электронная почта',
    'field.password': 'Пароль',
    'field.password2': 'Повторите пароль',
    'field.newPassword': 'Новый пароль',
    'field.display_name': 'Имя',
    'field.contact': 'Контакт',
    'field.message': 'Сообщение',
    'field.title': 'Название',
    'field.q': 'Поиск',

    'register.heading': 'Регистрация',
    'register.intro': 'С учётной записью ваши диалоги и сохранённое доступны на любом устройстве.',
    'register.passwordHint': 'От 8 до 128 символов.',
    'register.submit': 'Зарегистрироваться',
    'register.haveAccount': 'Уже есть учётная запись?',
    'register.sent': 'Проверьте почту: мы отправили письмо со ссылкой для подтверждения.',

    'login.heading': 'Вход',
    'login.submit': 'Войти',
    'login.forgot': 'Забыли пароль?',
    'login.noAccount': 'Нет учётной записи?',
    'login.wrong': 'Неверная почта или пароль.',
    'login.notConfirmed': 'Почта ещё не подтверждена. Перейдите по ссылке из письма.',
    'login.resend': 'Отправить письмо ещё раз',
    'login.resent': 'Письмо отправлено ещё раз. Проверьте почту.',

    'confirm.heading': 'Подтверждение почты',
    'confirm.checking': 'Проверяем ссылку…',
    'confirm.ok': 'Почта подтверждена. Теперь можно войти.',
    'confirm.bad': 'Ссылка недействительна: она устарела или уже использована. Войдите, чтобы получить новое письмо.',
    'confirm.toLogin': 'Войти',

    'forgot.heading': 'Восстановление пароля',
    'forgot.intro': 'Укажите почту — мы пришлём ссылку для смены пароля.',
    'forgot.submit': 'Отправить ссылку',
    'forgot.sent': 'Если такая учётная запись есть, письмо со ссылкой уже в пути.',

    'reset.heading': 'Новый пароль',
    'reset.submit': 'Сменить пароль',
    'reset.ok': 'Пароль изменён. Войдите с новым паролем.',
    'reset.bad': 'Ссылка недействительна: она устарела или уже использована. Запросите новую.',

    'error.network': 'Нет связи с сервером. Проверьте подключение и попробуйте ещё раз.',
    'error.rateLimited': 'Слишком много запросов. Попробуйте снова через {seconds} с.',
    'error.rateLimitedSoon': 'Слишком много запросов. Подождите немного и попробуйте снова.',
    'error.quotaExceeded': 'Лимит ответов ассистента на этот месяц исчерпан. Попробуйте позже.',
    'error.llmUnreachable': 'Ассистент сейчас недоступен. Ваше сообщение сохранено — попробуйте позже.',
    'error.llmNotConfigured': 'Ассистент ещё не настроен на этом сайте. Ваше сообщение сохранено.',
    'error.unavailable': 'Сервис временно недоступен. Попробуйте через минуту.',
    'error.stream': 'Ответ оборвался из-за ошибки. Попробуйте ещё раз.',
    'error.sessionExpired': 'Сеанс истёк. Войдите снова.',
    'error.notFound': 'Не найдено.',
    'error.dialogGone': 'Этот диалог больше недоступен. Отправьте сообщение ещё раз — начнётся новый.',
    'error.invalid': 'Проверьте введённые данные.',
    'error.invalidField': 'Проверьте поле «{field}».',
    'error.server': 'Что-то пошло не так. Попробуйте ещё раз.',
    'error.required': 'Заполните это поле.',
    'error.email': 'Введите адрес почты, например name@example.com.',
    'error.passwordShort': 'Пароль должен быть не короче 8 символов.',
    'error.tooLong': 'Слишком длинное значение.',
    'error.passwordMismatch': 'Пароли не совпадают.',
    'error.messageTooLong': 'Сообщение слишком длинное.',
    'error.emptyMessage': 'Напишите сообщение.',
  },
  en: {
    'nav.skip': 'Skip to content',
    'nav.label': 'Sections',
    'nav.chat': 'Chat',
    'nav.cabinet': 'My account',
    'nav.login': 'Log in',
    'nav.register': 'Sign up',
    'nav.logout': 'Log out',

    'title.chat': 'Chat',
    'title.my': 'My account',
    'title.dialogs': 'My dialogs',
    'title.dialog': 'Dialog',
    'title.saved': 'Saved',
    'title.profile': 'Profile',
    'title.register': 'Sign up',
    'title.login': 'Log in',
    'title.confirm': 'Email confirmation',
    'title.forgot': 'Forgotten password',
    'title.reset': 'New password',

    'chat.label': 'Chat with the assistant',
    'chat.heading': 'Chat',
    'chat.new': 'New dialog',
    'chat.messages': 'Messages',
    'chat.input': 'Your message',
    'chat.placeholder': 'Type a message…',
    'chat.send': 'Send',
    'chat.stop': 'Stop',
    'chat.hint': 'Enter sends, Shift+Enter starts a new line.',
    'chat.welcomeDefault': 'Hello! How can I help you?',
    'chat.you': 'You',
    'chat.assistant': 'Assistant',
    'chat.save': 'Save',
    'chat.saved': 'Saved',
    'chat.notSent': 'Not sent',
    'chat.thinking': 'The assistant is typing…',
    'chat.regenerate': 'Regenerate',
    'chat.answerOf': 'Answer {n} of {count}',

    'status.interrupted': 'Answer interrupted',
    'status.stopped': 'Answer stopped',
    'status.error': 'The answer broke off because of an error',

    'my.heading': 'My account',
    'my.guest': 'You are using the site as a guest: your history is kept in this browser.',
    'my.account': 'You are logged in as {email}.',
    'my.guestNote': 'Sign up to have your history on any device.',
    'my.registerLink': 'Sign up',
    'my.dialogs': 'Dialogs',
    'my.dialogsHint': 'All your conversations with the assistant',
    'my.saved': 'Saved',
    'my.savedHint': 'Answers you have saved',
    'my.profile': 'Profile',
    'my.profileHint': 'Your name and how to reach you',

    'dialogs.heading': 'My dialogs',
    'dialogs.empty': 'No dialogs yet. Start a conversation in the chat.',
    'dialogs.untitled': 'Untitled',
    'dialogs.count': { one: '{n} message', other: '{n} messages' },
    'dialogs.updated': 'updated {date}',
    'dialogs.search': 'Search my dialogs',
    'dialogs.searchButton': 'Search',
    'dialogs.searchClear': 'Clear',
    'dialogs.found': { one: '{n} dialog found', other: '{n} dialogs found' },
    'dialogs.notFound': 'Nothing found.',
    'dialogs.matches': { one: '{n} match', other: '{n} matches' },
    'dialogs.rename': 'Rename',
    'dialogs.newTitle': 'Dialog title',
    'dialogs.renameSave': 'Save',
    'dialogs.renameCancel': 'Cancel',
    'dialogs.renamed': 'Title saved.',
    'dialogs.delete': 'Delete',
    'dialogs.deleted': 'Dialog deleted',
    'dialogs.undo': 'Undo',
    'dialogs.restored': 'Dialog restored.',
    'dialogs.download': 'Download (Markdown)',
    'dialogs.downloadShort': 'Download',
    'dialogs.exportAll': 'Download all dialogs (JSON)',

    'pager.label': 'Pages',
    'pager.prev': '← Previous',
    'pager.next': 'Next →',
    'pager.page': 'Page {page} of {pages}',

    'dialog.heading': 'Dialog',
    'dialog.continue': 'Continue in the chat',
    'dialog.earlier': 'Show earlier messages',
    'dialog.started': 'started {date}',

    'saved.heading': 'Saved',
    'saved.empty': 'Answers you save in the chat will appear here.',
    'saved.open': 'Open the dialog',
    'saved.delete': 'Delete',
    'saved.deleted': 'Deleted.',
    'saved.at': 'saved {date}',

    'profile.heading': 'Profile',
    'profile.save': 'Save',
    'profile.saved': 'Profile saved.',
    'profile.contactHint': 'A phone number, messenger or other way to reach you.',

    'field.email': 'Email',
    'field.password': 'Password',
    'field.password2': 'Repeat the password',
    'field.newPassword': 'New password',
    'field.display_name': 'Name',
    'field.contact': 'Contact',
    'field.message': 'Message',
    'field.title': 'Title',
    'field.q': 'Search',

    'register.heading': 'Sign up',
    'register.intro': 'With an account your dialogs and saved answers are available on any device.',
    'register.passwordHint': '8 to 128 characters.',
    'register.submit': 'Sign up',
    'register.haveAccount': 'Already have an account?',
    'register.sent': 'Check your email: we have sent a link to confirm your address.',

    'login.heading': 'Log in',
    'login.submit': 'Log in',
    'login.forgot': 'Forgot your password?',
    'login.noAccount': 'No account yet?',
    'login.wrong': 'Wrong email or password.',
    'login.notConfirmed': 'Your email is not confirmed yet. Follow the link in the email we sent.',
    'login.resend': 'Send the email again',
    'login.resent': 'The email has been sent again. Check your inbox.',

    'confirm.heading': 'Email confirmation',
    'confirm.checking': 'Checking the link…',
    'confirm.ok': 'Your email is confirmed. You can log in now.',
    'confirm.bad': 'This link is not valid: it has expired or was already used. Log in to get a new email.',
    'confirm.toLogin': 'Log in',

    'forgot.heading': 'Forgotten password',
    'forgot.intro': 'Enter your email and we will send you a link to set a new password.',
    'forgot.submit': 'Send the link',
    'forgot.sent': 'If there is such an account, an email with a link is on its way.',

    'reset.heading': 'New password',
    'reset.submit': 'Change the password',
    'reset.ok': 'Your password has been changed. Log in with the new one.',
    'reset.bad': 'This link is not valid: it has expired or was already used. Ask for a new one.',

    'error.network': 'Cannot reach the server. Check your connection and try again.',
    'error.rateLimited': 'Too many requests. Please try again in {seconds} s.',
    'error.rateLimitedSoon': 'Too many requests. Please wait a little and try again.',
    'error.quotaExceeded': "The assistant's answers for this month are used up. Please try again later.",
    'error.llmUnreachable': 'The assistant is unavailable right now. Your message is saved; please try again later.',
    'error.llmNotConfigured': 'The assistant is not set up on this site yet. Your message is saved.',
    'error.unavailable': 'The service is temporarily unavailable. Please try again in a minute.',
    'error.stream': 'The answer broke off because of an error. Please try again.',
    'error.sessionExpired': 'Your session has expired. Please log in again.',
    'error.notFound': 'Not found.',
    'error.dialogGone': 'That dialog is no longer available. Send the message again to start a new one.',
    'error.invalid': 'Please check what you entered.',
    'error.invalidField': 'Please check the field “{field}”.',
    'error.server': 'Something went wrong. Please try again.',
    'error.required': 'Please fill in this field.',
    'error.email': 'Enter an email address such as name@example.com.',
    'error.passwordShort': 'The password must be at least 8 characters long.',
    'error.tooLong': 'This value is too long.',
    'error.passwordMismatch': 'The passwords do not match.',
    'error.messageTooLong': 'The message is too long.',
    'error.emptyMessage': 'Please type a message.',
  },
};

export const LOCALES = Object.keys(TEXTS);

export const locale = TEXTS[document.body?.dataset.locale] ? document.body.dataset.locale : 'ru';

const plural = new Intl.PluralRules(locale);

/** The text for `key` in the page's language, `{name}` placeholders filled from `params`;
 * `params.n` picks the plural form where the text has several. */
export function t(key, params = {}) {
  let text = TEXTS[locale][key] ?? TEXTS.ru[key] ?? key;
  if (typeof text === 'object') {
    text = text[plural.select(params.n ?? 0)] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in params ? String(params[name]) : match));
}

/** Fill the texts of `root`: `data-i18n` (text), `data-i18n-placeholder`, `data-i18n-label`
 * (aria-label). */
export function applyTexts(root = document) {
  for (const element of root.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  for (const element of root.querySelectorAll('[data-i18n-placeholder]')) {
    element.placeholder = t(element.dataset.i18nPlaceholder);
  }
  for (const element of root.querySelectorAll('[data-i18n-label]')) {
    element.setAttribute('aria-label', t(element.dataset.i18nLabel));
  }
}

/** A date and time in the page's language. */
export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime())
    ? ''
    : new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
}
