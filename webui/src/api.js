// Talks to the OpenAI-compatible endpoints of qwenserve.
import { SseParser } from './sse.js';

// Error with the server's message ({"error": {"message", ...}}) when present.
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function errorFromResponse(res) {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* body unreadable: fall back to the status line */
  }
  try {
    const body = JSON.parse(text);
    if (body && body.error) {
      const msg = typeof body.error === 'string' ? body.error : body.error.message;
      if (msg) return new ApiError(msg, res.status);
    }
  } catch {
    /* not JSON */
  }
  const detail = text.trim().slice(0, 300);
  return new ApiError(`HTTP ${res.status} ${res.statusText}${detail ? ': ' + detail : ''}`, res.status);
}

export async function fetchModels(signal) {
  const res = await fetch('/v1/models', { signal });
  if (!res.ok) throw await errorFromResponse(res);
  const body = await res.json();
  return Array.isArray(body.data) ? body.data.map((m) => m.id) : [];
}

// Streams one chat completion. Calls onDelta(text) for each content piece and
// resolves to { usage, finishReason }. Rejects with ApiError on a server error
// and with the fetch's AbortError when `signal` aborts.
export async function streamChat(request, { signal, onDelta }) {
  const res = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!res.ok) throw await errorFromResponse(res);
  if (!res.body) throw new ApiError('The response has no body to stream.', res.status);

  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  let usage = null;
  let finishReason = null;
  let done = false;

  const handle = (payload) => {
    if (payload.trim() === '[DONE]') {
      done = true;
      return;
    }
    let chunk;
    try {
      chunk = JSON.parse(payload);
    } catch {
      throw new ApiError(`Malformed stream chunk: ${payload.slice(0, 200)}`, res.status);
    }
    if (chunk.error) {
      const msg = typeof chunk.error === 'string' ? chunk.error : chunk.error.message;
      throw new ApiError(msg || 'The server reported an error.', res.status);
    }
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices || []) {
      const piece = choice.delta && choice.delta.content;
      if (piece) onDelta(piece);
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
  };

  try {
    while (!done) {
      const { value, done: eof } = await reader.read();
      if (eof) {
        for (const p of parser.push(decoder.decode())) handle(p);
        for (const p of parser.end()) if (!done) handle(p);
        break;
      }
      for (const p of parser.push(decoder.decode(value, { stream: true }))) {
        if (!done) handle(p);
      }
    }
  } finally {
    // After [DONE] (or an error) stop reading; releases the connection.
    reader.cancel().catch(() => {});
  }
  return { usage, finishReason };
}
