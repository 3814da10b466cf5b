// Development/test stand-in for qwenserve's HTTP API (not the real server).
//   node mock_server.mjs [--port N] [--host H]   (port 0 = pick a free one)
// Prints "LISTENING <port>" once ready. Endpoints:
//   GET  /                      -> dist/index.html (re-read on every request)
//   GET  /v1/models             -> one model, owned_by "qwenserve-mock"
//   POST /v1/chat/completions   -> OpenAI-style SSE stream at ~20 chunks/s;
//        a last user message containing "long"/"essay" gets a ~900-chunk answer
//   GET  /__mock/stats          -> counters: requests, completed, aborted
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const PORT = Number(opt('--port', process.env.PORT || 8099));
const HOST = opt('--host', '127.0.0.1');
const INTERVAL_MS = Number(opt('--interval-ms', 50));
const MODEL = 'Qwen2.5-0.5B-Instruct';

const stats = { requests: 0, completed: 0, aborted: 0 };

const SHORT_ANSWER = [
  'Here is a quick **Markdown** check.',
  '',
  'The square of $x$ is $x^2$, and the area under it on $[0,1]$ is',
  '',
  '$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$',
  '',
  'In Python:',
  '',
  '```python',
  'def square(x: float) -> float:',
  '    """Return x squared."""',
  '    return x ** 2',
  '',
  'print(square(3))  # 9',
  '```',
  '',
  '- first point with `inline code`',
  '- second point, *emphasised*',
  '',
  '| n | n² |',
  '|---|----|',
  '| 2 | 4 |',
  '| 3 | 9 |',
].join('\n');

function longAnswer() {
  const para =
    'Computing grew from mechanical calculators to electronic machines, and each step made ' +
    'the next one cheaper. The cost of an operation fell by orders of magnitude, roughly as $c(t) \\approx c_0 2^{-t/2}$, ' +
    'while programs grew from hand-wired plugboards to operating systems with millions of lines. ';
  const parts = ['## A long answer', ''];
  for (let i = 1; i <= 12; i++) parts.push(`### Part ${i}`, '', para + para, '');
  return parts.join('\n');
}

// Splits text into word-sized pieces ("tokens"), keeping all whitespace.
function tokenize(text) {
  return text.match(/\s*\S+|\s+/g) || [];
}

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

function sendError(res, status, message, type = 'invalid_request_error', param = null, code = null) {
  sendJson(res, status, { error: { message, type, param, code } });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function chat(req, res) {
  stats.requests++;
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    return sendError(res, 400, 'Request body is not valid JSON.');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return sendError(res, 400, "'messages' must be a non-empty array.", 'invalid_request_error', 'messages');
  }
  const lastUser = [...body.messages].reverse().find((m) => m.role === 'user');
  const prompt = String((lastUser && lastUser.content) || '');
  const text = /\b(long|essay)\b/i.test(prompt) ? longAnswer() : SHORT_ANSWER;
  let tokens = tokenize(text);
  let finish = 'stop';
  const maxTokens = Number(body.max_tokens || body.max_completion_tokens || 0);
  if (maxTokens > 0 && tokens.length > maxTokens) {
    tokens = tokens.slice(0, maxTokens);
    finish = 'length';
  }
  const promptTokens = body.messages.reduce((n, m) => n + tokenize(String(m.content || '')).length + 4, 0);
  const id = `chatcmpl-mock${Date.now().toString(36)}`;
  const created = Math.floor(Date.now() / 1000);

  if (!body.stream) {
    return sendJson(res, 200, {
      id, object: 'chat.completion', created, model: MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: finish }],
      usage: { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length },
    });
  }

  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
  const chunk = (delta, finishReason = null) => ({
    id, object: 'chat.completion.chunk', created, model: MODEL,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  const emit = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  emit(chunk({ role: 'assistant', content: '' }));

  let i = 0;
  let finished = false;
  const timer = setInterval(() => {
    if (i < tokens.length) {
      emit(chunk({ content: tokens[i++] }));
      return;
    }
    clearInterval(timer);
    finished = true;
    emit(chunk({}, finish));
    if (body.stream_options && body.stream_options.include_usage) {
      emit({
        id, object: 'chat.completion.chunk', created, model: MODEL, choices: [],
        usage: { prompt_tokens: promptTokens, completion_tokens: tokens.length, total_tokens: promptTokens + tokens.length },
      });
    }
    res.write('data: [DONE]\n\n');
    res.end();
    stats.completed++;
  }, INTERVAL_MS);
  // The client going away (stop button) must stop generation here.
  res.on('close', () => {
    if (!finished) {
      clearInterval(timer);
      stats.aborted++;
      console.log(`client disconnected after ${i}/${tokens.length} tokens`);
    }
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html')) {
      const html = await readFile(join(root, 'dist/index.html'));
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': html.length });
      return res.end(html);
    }
    if (req.method === 'GET' && url.pathname === '/v1/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: [{ id: MODEL, object: 'model', created: 1700000000, owned_by: 'qwenserve-mock' }],
      });
    }
    if (req.method === 'POST' && url.pathname === '/v1/chat/completions') return await chat(req, res);
    if (req.method === 'GET' && url.pathname === '/__mock/stats') return sendJson(res, 200, stats);
    return sendError(res, 404, `No route for ${req.method} ${url.pathname}.`, 'not_found_error');
  } catch (err) {
    if (!res.headersSent) sendError(res, 500, String(err.message || err), 'server_error');
    else res.destroy();
  }
});

server.listen(PORT, HOST, () => {
  console.log(`LISTENING ${server.address().port}`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
