// The composer's length counter: shown once the message nears the tenant's limit
// (`[limits] message_max_chars`, the textarea's `data-max-chars`), "3,950 / 4,000".

const SHOW_FROM = 0.9; // of the limit

/** Keep `counter` up to date with `input`'s length; returns `tooLong()` for the sender. */
export function watchLength(input, counter, locale) {
  const max = Number.parseInt(input.dataset.maxChars ?? '', 10);
  const number = new Intl.NumberFormat(locale === 'en' ? 'en' : 'ru');
  // Characters as the server counts them (code points, not UTF-16 units).
  const length = () => [...input.value.trim()].length;
  const tooLong = () => Number.isFinite(max) && length() > max;
  const update = () => {
    const count = length();
    counter.hidden = !Number.isFinite(max) || count < max * SHOW_FROM;
    counter.textContent = `${number.format(count)} / ${number.format(max)}`;
    counter.classList.toggle('over', tooLong());
  };
  input.addEventListener('input', update);
  update();
  return { tooLong, update };
}
