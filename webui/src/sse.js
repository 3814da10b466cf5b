// Incremental parser for text/event-stream bodies (the subset OpenAI-style
// servers use): events are separated by a blank line, each "data:" line adds
// one line of payload, lines starting with ":" are comments. Input arrives in
// arbitrary chunks, so a partial line is kept until its newline arrives.
export class SseParser {
  constructor() {
    this.buf = '';
    this.data = [];
  }

  // Feeds decoded text; returns the complete event payloads (strings) found.
  push(text) {
    this.buf += text;
    const events = [];
    for (;;) {
      const nl = this.buf.search(/\r\n|\r|\n/);
      if (nl < 0) break;
      // A lone "\r" at the very end might be the first half of "\r\n".
      if (this.buf[nl] === '\r' && nl === this.buf.length - 1) break;
      const eolLen = this.buf.startsWith('\r\n', nl) ? 2 : 1;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + eolLen);
      this.#line(line, events);
    }
    return events;
  }

  // Flushes a final event that was not followed by a blank line.
  end() {
    const events = [];
    if (this.buf.length) this.#line(this.buf, events);
    this.buf = '';
    this.#line('', events);
    return events;
  }

  #line(line, events) {
    if (line === '') {
      if (this.data.length) events.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
  }
}
