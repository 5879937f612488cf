// Server-Sent Events read from a fetch() response body (EventSource cannot POST).
//
// `parseSse` is pure: given the text left over from earlier reads and a new chunk, it returns
// the complete events and the text still waiting for its end. Reads may split lines, CRLF
// pairs and events anywhere; UTF-8 characters split across reads are joined by the
// TextDecoderStream in `readEvents`.

/** Parse `pending + chunk`. Returns `{events: [{event, data}], pending}`. */
export function parseSse(pending, chunk) {
  let text = pending + chunk;
  // A trailing CR may be the first half of a CRLF split across reads: keep it for later.
  const held = text.endsWith('\r') ? '\r' : '';
  if (held) text = text.slice(0, -1);
  text = text.replace(/\r\n?/g, '\n');
  const blocks = text.split('\n\n');
  const rest = blocks.pop();
  const events = blocks.map(parseBlock).filter((event) => event !== null);
  return { events, pending: rest + held };
}

/** One event block (lines without the blank line that ended it) as `{event, data, id}` (id
 * null when the block has none); null when it has no data (only comments such as `: ping`). */
export function parseBlock(block) {
  let event = 'message';
  let id = null;
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value || 'message';
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  return data.length ? { event, data: data.join('\n'), id } : null;
}

/** The events of a response body, as they arrive. An unfinished event at the end of the
 * stream is dropped, as EventSource would. */
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const parsed = parseSse(pending, value);
      pending = parsed.pending;
      yield* parsed.events;
    }
  } finally {
    // Stops the download when the reader leaves early; a no-op once the stream has ended.
    reader.cancel().catch(() => {});
  }
}
