// Headless-browser test of the qwenserve chat page.
//   node tests/webui/chat_page_test.mjs http://127.0.0.1:PORT OUTDIR
// Works against webui/mock_server.mjs and against the real server. Needs
// playwright-core (webui/package.json devDependency, no bundled browser) and a
// system Chromium (/usr/bin/chromium, or $CHROMIUM). Exit 0 = all checks pass.
// Timeouts: $QS_WEBUI_TIMEOUT_S (default 180) bounds waiting for an answer.
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../..');
const require = createRequire(join(repoRoot, 'webui/package.json'));
const { chromium } = require('playwright-core');

const [baseArg, outArg] = process.argv.slice(2);
if (!baseArg || !outArg) {
  console.error('usage: node tests/webui/chat_page_test.mjs http://HOST:PORT OUTDIR');
  process.exit(2);
}
const BASE = baseArg.replace(/\/+$/, '');
const OUT = resolve(outArg);
const TIMEOUT_MS = Number(process.env.QS_WEBUI_TIMEOUT_S || 180) * 1000;
const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

class TestFailure extends Error {}
const fail = (msg) => {
  throw new TestFailure(msg);
};
const check = (cond, msg) => {
  if (!cond) fail(msg);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('[webui-test]', ...a);

// Polls fn() until it returns a truthy value; fails with `what` on timeout.
async function waitFor(fn, what, timeoutMs = TIMEOUT_MS, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// State of the newest assistant message as the page shows it.
async function lastAssistant(page) {
  return page.evaluate(() => {
    const all = document.querySelectorAll('#messages .msg.assistant');
    const m = all[all.length - 1];
    if (!m) return null;
    const c = m.querySelector('.content');
    return {
      count: all.length,
      state: m.dataset.state || '',
      raw: m.dataset.raw || '',
      textLen: c.textContent.length,
      text: c.textContent,
      meta: m.querySelector('.meta').textContent,
      katex: c.querySelectorAll('.katex').length,
      katexDisplay: c.querySelectorAll('.katex-display').length,
      code: c.querySelectorAll('pre code').length,
      hljsTokens: c.querySelectorAll('pre code [class^="hljs-"]').length,
      error: (c.querySelector('.error-text') || {}).textContent || '',
    };
  });
}

async function uiIdle(page) {
  return page.evaluate(() => {
    const send = document.getElementById('send');
    const stop = document.getElementById('stop');
    return !send.hidden && !send.disabled && stop.hidden && !document.body.classList.contains('busy');
  });
}

async function setControl(page, id, value) {
  await page.$eval(`#${id}`, (el, v) => {
    el.value = v;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
  }, String(value));
}

async function sendMessage(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

async function readTps(page) {
  const t = (await page.textContent('#tps-value')).trim();
  const v = Number(t);
  check(/^\d+(\.\d+)?$/.test(t) && v > 0, `tokens/s readout is not a positive number: "${t}"`);
  return v;
}

// Waits until the newest assistant bubble has shown >= 2 different non-empty
// lengths while streaming; returns the lengths seen.
async function waitForGrowth(page, what) {
  const seen = new Set();
  await waitFor(async () => {
    const a = await lastAssistant(page);
    if (a && a.textLen > 0 && a.state === 'streaming') seen.add(a.textLen);
    if (a && (a.state === 'done' || a.state === 'error' || a.state === 'stopped') && seen.size < 2) {
      fail(`${what}: answer ended (state ${a.state}${a.error ? ': ' + a.error : ''}) before growth was seen; lengths ${[...seen]}`);
    }
    return seen.size >= 2;
  }, `${what}: streamed text to grow`, TIMEOUT_MS, 5);
  return [...seen];
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  const models = await (await fetch(`${BASE}/v1/models`)).json();
  const modelId = models && models.data && models.data[0] && models.data[0].id;
  check(modelId, `GET /v1/models has no data[0].id: ${JSON.stringify(models)}`);
  const isMock = models.data[0].owned_by === 'qwenserve-mock';
  log(`server ${BASE}, model ${modelId}${isMock ? ' (mock)' : ''}`);

  const profile = mkdtempSync(join(tmpdir(), 'qs-webui-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 860 },
  });
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') log('browser console error:', m.text());
  });
  const requests = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().endsWith('/v1/chat/completions')) {
      try {
        requests.push(JSON.parse(r.postData() || 'null'));
      } catch {
        requests.push(null);
      }
    }
  });

  try {
    // 1. Page loads and shows the model name from /v1/models.
    await page.goto(`${BASE}/`, { waitUntil: 'load' });
    await waitFor(async () => (await page.textContent('#model-name')).trim() === modelId,
      `#model-name to show "${modelId}"`, 30000);
    check(await uiIdle(page), 'UI is not idle after load');
    log('page loaded, model shown');

    // 2. Settings reach the request; the answer streams and grows.
    await page.selectOption('#preset', 'python');
    const systemText = await page.inputValue('#system');
    check(/Python/.test(systemText), `preset "python" did not fill the system prompt: "${systemText}"`);
    await setControl(page, 'temperature', '0');
    await setControl(page, 'top-p', '0.9');
    // Long enough that a fast CPU still streams for a while (the tiny test
    // model decodes thousands of tokens/s).
    await setControl(page, 'max-tokens', '1500');
    const prompt1 = 'Give the formula $x^2$ for the square of x, then a short Python function in a ```python code block that computes it.';
    await sendMessage(page, prompt1);
    await waitFor(async () => !(await uiIdle(page)), 'UI to become busy after sending', 5000);
    const lengths = await waitForGrowth(page, 'first answer');
    log(`first answer grows: lengths ${lengths.slice(0, 6).join(', ')}`);
    await waitFor(async () => (await lastAssistant(page)).state === 'done' && (await uiIdle(page)),
      'first answer to finish');
    const a1 = await lastAssistant(page);
    check(a1.raw.length > 0, 'first answer is empty');
    const req1 = requests[0];
    check(req1, 'no POST /v1/chat/completions request was seen');
    check(req1.stream === true, `request.stream is ${req1.stream}`);
    check(req1.stream_options && req1.stream_options.include_usage === true, 'request lacks stream_options.include_usage');
    check(req1.model === modelId, `request.model is ${req1.model}, expected ${modelId}`);
    check(req1.temperature === 0 && req1.top_p === 0.9 && req1.max_tokens === 1500,
      `sampling controls not in request: temperature ${req1.temperature}, top_p ${req1.top_p}, max_tokens ${req1.max_tokens}`);
    check(req1.messages.length === 2 && req1.messages[0].role === 'system' && req1.messages[0].content === systemText &&
      req1.messages[1].role === 'user' && req1.messages[1].content === prompt1,
      `unexpected messages in first request: ${JSON.stringify(req1.messages).slice(0, 400)}`);
    const tps1 = await readTps(page);
    check(/tok\/s/.test(a1.meta), `answer stats line lacks tok/s: "${a1.meta}"`);
    log(`first answer done: ${a1.raw.length} chars, ${tps1} tok/s, stats "${a1.meta}"`);
    if (isMock) {
      check(a1.katex >= 1 && a1.katexDisplay >= 1, `mock answer: KaTeX not rendered (inline ${a1.katex}, display ${a1.katexDisplay})`);
      check(a1.code >= 1 && a1.hljsTokens > 0, `mock answer: code block not rendered/highlighted (${a1.code} blocks)`);
      check(!a1.text.includes('$x^2$') && !a1.text.includes('```'), 'mock answer: raw markdown/math left in the rendered text');
    } else {
      if (a1.raw.includes('```')) check(a1.code >= 1, 'answer has a ``` fence but no rendered code block');
      log(`real-model answer rendered: ${a1.katex} KaTeX, ${a1.code} code blocks`);
    }
    await page.screenshot({ path: join(OUT, 'chat-answer.png') });

    // 3. Multi-turn history + stop while a long answer streams.
    await setControl(page, 'max-tokens', '2000');
    await sendMessage(page, 'Write a long, detailed essay about the history of computing, at least 1500 words.');
    await waitForGrowth(page, 'long answer');
    const req2 = requests[1];
    check(req2 && req2.messages.length === 4 && req2.messages[2].role === 'assistant' &&
      req2.messages[2].content === a1.raw && req2.messages[1].content === prompt1,
      `second request does not carry the history: ${JSON.stringify(req2 && req2.messages).slice(0, 400)}`);
    check(req2.max_tokens === 2000, `max_tokens ${req2.max_tokens}, expected 2000`);
    const before = await lastAssistant(page);
    check(before.state === 'streaming', `long answer is not streaming before stop (state ${before.state})`);
    await page.click('#stop');
    await waitFor(async () => (await uiIdle(page)) && (await lastAssistant(page)).state === 'stopped',
      'UI to return to idle with the answer marked stopped after Stop', 10000);
    const s1 = await lastAssistant(page);
    await sleep(1500);
    const s2 = await lastAssistant(page);
    check(s2.raw.length === s1.raw.length && s2.textLen === s1.textLen,
      `text kept growing after Stop: ${s1.raw.length} -> ${s2.raw.length} chars`);
    check(/stopped/.test(s2.meta), `stopped answer stats line lacks "stopped": "${s2.meta}"`);
    await readTps(page);
    log(`stop works: answer frozen at ${s2.raw.length} chars, stats "${s2.meta}"`);
    if (isMock) {
      const stats = await (await fetch(`${BASE}/__mock/stats`)).json();
      check(stats.aborted >= 1, `mock server did not see the disconnect: ${JSON.stringify(stats)}`);
      log(`mock saw ${stats.aborted} aborted stream(s)`);
    }

    // 4. Server errors are shown with their message (response injected by
    //    the browser so this works against any server).
    const errMsg = 'This model\'s maximum context length is 32768 tokens (injected test error).';
    await page.route('**/v1/chat/completions', (route) => route.fulfill({
      status: 400,
      contentType: 'application/json',
      body: JSON.stringify({ error: { message: errMsg, type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' } }),
    }), { times: 1 });
    await sendMessage(page, 'This request gets an injected error.');
    await waitFor(async () => (await lastAssistant(page)).state === 'error' && (await uiIdle(page)),
      'error to be shown', 10000);
    const e = await lastAssistant(page);
    check(e.error === errMsg, `error message not shown: "${e.error}"`);
    check((await page.inputValue('#input')) === 'This request gets an injected error.', 'failed message text not restored to the input');
    await page.fill('#input', '');
    log('error message shown');

    // 5. Markdown/math/code rendering and sanitising of a canned SSE stream.
    const canned = ['The square is $x^2$ and\n\n$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$\n\n',
      '```python\ndef square(x):\n    return x ** 2\n```\n\n',
      '**bold** <img alt="" src="data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==" onerror="window.__qsXss=1"> done'];
    const sse = canned.map((c, i) => `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: modelId,
      choices: [{ index: 0, delta: i ? { content: c } : { role: 'assistant', content: c }, finish_reason: null }] })}\n\n`).join('') +
      `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: modelId, choices: [],
        usage: { prompt_tokens: 9, completion_tokens: 21, total_tokens: 30 } })}\n\ndata: [DONE]\n\n`;
    await page.route('**/v1/chat/completions', (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: sse }), { times: 1 });
    await sendMessage(page, 'Render check (canned response).');
    await waitFor(async () => (await lastAssistant(page)).state === 'done' && (await uiIdle(page)), 'canned answer', 10000);
    const r = await lastAssistant(page);
    check(r.katex >= 2 && r.katexDisplay === 1, `canned answer: KaTeX not rendered (inline ${r.katex}, display ${r.katexDisplay})`);
    check(r.code === 1 && r.hljsTokens > 0, `canned answer: code block not rendered/highlighted (${r.code}, ${r.hljsTokens})`);
    check(!r.text.includes('$x^2$') && !r.text.includes('```'), 'canned answer: raw markdown left in rendered text');
    const unsafe = await page.evaluate(() => window.__qsXss === 1 || !!document.querySelector('#messages [onerror]'));
    check(!unsafe, 'HTML in the model output was not sanitised (onerror survived)');
    check(/21 tokens/.test(r.meta), `usage.completion_tokens not used in the stats line: "${r.meta}"`);
    log('markdown, KaTeX, highlighting and sanitising ok');

    check(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join(' | ')}`);
    await page.evaluate(() => { const s = document.getElementById('scroller'); s.scrollTop = s.scrollHeight; });
    await page.screenshot({ path: join(OUT, 'chat.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(400); // let the settings panel finish sliding out
    await page.screenshot({ path: join(OUT, 'chat-mobile.png') });
    log(`screenshots in ${OUT}: chat.png, chat-answer.png, chat-mobile.png`);
  } catch (err) {
    await page.screenshot({ path: join(OUT, 'failure.png') }).catch(() => {});
    throw err;
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().then(
  () => {
    log('PASS');
    process.exit(0);
  },
  (err) => {
    console.error(`[webui-test] FAIL: ${err instanceof TestFailure ? err.message : err.stack || err}`);
    process.exit(1);
  },
);
