// Chat page controller: settings panel, conversation state, streaming.
import 'katex/dist/katex.css';
import 'highlight.js/styles/github-dark.css';
import './style.css';
import { ApiError, fetchModels, streamChat } from './api.js';
import { escapeHtml, renderMarkdown } from './markdown.js';
import { CUSTOM_ID, PRESETS } from './presets.js';

const $ = (id) => document.getElementById(id);
const els = {
  messages: $('messages'), scroller: $('scroller'), empty: $('empty'), input: $('input'),
  composer: $('composer'), send: $('send'), stop: $('stop'), model: $('model-name'),
  tps: $('tps'), tpsValue: $('tps-value'), newChat: $('new-chat'), toggleSettings: $('toggle-settings'),
  settings: $('settings'), preset: $('preset'), system: $('system'), temperature: $('temperature'),
  temperatureOut: $('temperature-out'), topP: $('top-p'), topPOut: $('top-p-out'),
  maxTokens: $('max-tokens'), reset: $('reset-settings'),
};

// ---- settings -------------------------------------------------------------
// Qwen2.5-Instruct's generation_config defaults.
const DEFAULTS = { preset: 'default', system: PRESETS[0].text, temperature: 0.7, topP: 0.8, maxTokens: 1024 };
const STORAGE_KEY = 'qwenserve.webui.settings.v1';

function loadSettings() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(STORAGE_KEY) || '{}') };
  } catch {
    return { ...DEFAULTS };
  }
}

function readSettings() {
  const maxTokens = Math.round(Number(els.maxTokens.value));
  return {
    preset: els.preset.value,
    system: els.system.value,
    temperature: Number(els.temperature.value),
    topP: Number(els.topP.value),
    maxTokens: Number.isFinite(maxTokens) && maxTokens > 0 ? maxTokens : DEFAULTS.maxTokens,
  };
}

function saveSettings() {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(readSettings()));
  } catch {
    /* storage disabled: settings just don't persist */
  }
}

function showSettings(s) {
  els.preset.value = PRESETS.some((p) => p.id === s.preset) ? s.preset : CUSTOM_ID;
  els.system.value = s.system;
  els.temperature.value = String(s.temperature);
  els.topP.value = String(s.topP);
  els.maxTokens.value = String(s.maxTokens);
  els.temperatureOut.textContent = Number(s.temperature).toFixed(2);
  els.topPOut.textContent = Number(s.topP).toFixed(2);
}

function initSettings() {
  for (const p of PRESETS) els.preset.add(new Option(p.label, p.id));
  els.preset.add(new Option('Custom', CUSTOM_ID));
  showSettings(loadSettings());
  els.preset.addEventListener('change', () => {
    const p = PRESETS.find((x) => x.id === els.preset.value);
    if (p) els.system.value = p.text;
    saveSettings();
  });
  els.system.addEventListener('input', () => {
    const p = PRESETS.find((x) => x.id === els.preset.value);
    if (!p || p.text !== els.system.value) els.preset.value = CUSTOM_ID;
    saveSettings();
  });
  for (const [input, out] of [[els.temperature, els.temperatureOut], [els.topP, els.topPOut]]) {
    input.addEventListener('input', () => {
      out.textContent = Number(input.value).toFixed(2);
      saveSettings();
    });
  }
  els.maxTokens.addEventListener('change', saveSettings);
  els.reset.addEventListener('click', () => {
    showSettings(DEFAULTS);
    saveSettings();
  });
  els.toggleSettings.addEventListener('click', () => {
    const open = document.body.classList.toggle('settings-open');
    els.toggleSettings.setAttribute('aria-expanded', String(open));
  });
}

// ---- model ----------------------------------------------------------------
let modelId = null;

async function loadModel() {
  try {
    const ids = await fetchModels();
    if (!ids.length) throw new Error('no models listed');
    modelId = ids[0];
    els.model.textContent = modelId;
    els.model.classList.remove('offline');
    els.model.title = 'Model served at /v1/models';
  } catch (err) {
    els.model.textContent = 'server unreachable';
    els.model.classList.add('offline');
    els.model.title = String(err.message || err);
  }
  return modelId;
}

// ---- conversation ---------------------------------------------------------
// history holds only completed turns: [{role, content}], system prompt excluded.
let history = [];
let active = null; // { controller, view } while a reply streams

function atBottom() {
  const s = els.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToEnd(force) {
  if (force || atBottom()) els.scroller.scrollTop = els.scroller.scrollHeight;
}

function addMessage(role) {
  els.empty.hidden = true;
  const msg = document.createElement('div');
  msg.className = `msg ${role}`;
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.textContent = role === 'user' ? 'You' : 'Q';
  const body = document.createElement('div');
  body.className = 'msg-body';
  const content = document.createElement('div');
  content.className = role === 'user' ? 'content plain' : 'content markdown';
  const meta = document.createElement('div');
  meta.className = 'meta';
  body.append(content, meta);
  msg.append(avatar, body);
  els.messages.append(msg);
  return { msg, content, meta };
}

function setBusy(busy) {
  document.body.classList.toggle('busy', busy);
  els.send.hidden = busy;
  els.stop.hidden = !busy;
  els.send.disabled = busy;
}

function formatRate(r) {
  return r >= 100 ? r.toFixed(0) : r.toFixed(1);
}

// Decode speed: tokens after the first one over the time they took. When the
// chunks arrived (nearly) at once, e.g. from a buffering proxy, that interval
// means nothing, so fall back to tokens over the whole request.
function tokensPerSecond(tokens, t) {
  const decodeMs = t.last - t.first;
  if (tokens > 1 && decodeMs >= 50) return ((tokens - 1) * 1000) / decodeMs;
  const totalMs = (t.last || performance.now()) - t.start;
  return tokens > 0 && totalMs > 0 ? (tokens * 1000) / totalMs : 0;
}

async function send(text) {
  if (active || !text.trim()) return;
  const settings = readSettings();
  const userTurn = { role: 'user', content: text };
  const userView = addMessage('user');
  userView.content.textContent = text;

  const view = addMessage('assistant');
  view.msg.dataset.state = 'waiting';
  view.content.innerHTML = '<span class="typing"><i></i><i></i><i></i></span>';
  scrollToEnd(true);

  const controller = new AbortController();
  active = { controller, view };
  setBusy(true);

  const messages = [];
  if (settings.system.trim()) messages.push({ role: 'system', content: settings.system });
  messages.push(...history, userTurn);

  let raw = '';
  let chunks = 0;
  const t = { start: performance.now(), first: 0, last: 0 };
  let frame = 0;
  const paint = () => {
    frame = 0;
    const stick = atBottom();
    view.content.innerHTML = renderMarkdown(raw);
    if (stick) scrollToEnd(true);
  };

  let outcome = 'done';
  let result = null;
  let error = null;
  try {
    if (!modelId) await loadModel();
    result = await streamChat(
      {
        model: modelId || 'default',
        messages,
        temperature: settings.temperature,
        top_p: settings.topP,
        max_tokens: settings.maxTokens,
      },
      {
        signal: controller.signal,
        onDelta: (piece) => {
          const now = performance.now();
          if (!chunks) {
            t.first = now;
            view.msg.dataset.state = 'streaming';
          }
          t.last = now;
          chunks += 1;
          raw += piece;
          view.msg.dataset.raw = raw;
          if (chunks > 1) els.tpsValue.textContent = formatRate(tokensPerSecond(chunks, t));
          if (!frame) frame = requestAnimationFrame(paint);
        },
      },
    );
  } catch (err) {
    if (controller.signal.aborted || (err && err.name === 'AbortError')) {
      outcome = 'stopped';
    } else {
      outcome = 'error';
      error = err;
    }
  }
  if (frame) cancelAnimationFrame(frame);
  if (raw) paint();
  active = null;
  setBusy(false);

  if (outcome === 'error') {
    view.msg.dataset.state = 'error';
    let msg = error && error.message ? error.message : String(error);
    if (!(error instanceof ApiError) && error instanceof TypeError) msg = `Could not reach the server (${msg}).`;
    const partial = raw ? view.content.innerHTML : '';
    view.content.innerHTML =
      `${partial}<div class="error-box" role="alert"><strong>Error</strong><span class="error-text">${escapeHtml(msg)}</span></div>`;
    // The failed turn is not kept; offer the text again for a retry.
    if (!els.input.value) els.input.value = text;
    autoGrow();
    scrollToEnd(true);
    return;
  }

  if (!raw) view.content.innerHTML = '<span class="muted">(no output)</span>';
  const completion = result && result.usage && Number.isFinite(result.usage.completion_tokens)
    ? result.usage.completion_tokens : null;
  const tokens = completion ?? chunks;
  const rate = tokens ? tokensPerSecond(tokens, t) : 0;
  if (tokens) els.tpsValue.textContent = formatRate(rate);
  view.msg.dataset.state = outcome;

  const parts = [];
  if (outcome === 'stopped') parts.push('<span class="badge stopped">stopped</span>');
  else if (result && result.finishReason === 'length') parts.push('<span class="badge">max tokens reached</span>');
  parts.push(`${completion === null ? '~' : ''}${tokens} tokens`);
  if (tokens) parts.push(`${formatRate(rate)} tok/s`);
  if (t.first) parts.push(`first token ${Math.round(t.first - t.start)} ms`);
  if (result && result.usage && Number.isFinite(result.usage.prompt_tokens)) parts.push(`prompt ${result.usage.prompt_tokens} tokens`);
  view.meta.innerHTML = parts.join('<span class="dot">·</span>');

  // Partial answers stay in the history: the model sees what the user saw.
  history.push(userTurn, { role: 'assistant', content: raw });
  scrollToEnd(false);
}

function stop() {
  if (active) active.controller.abort();
}

function newChat() {
  stop();
  history = [];
  for (const m of [...els.messages.querySelectorAll('.msg')]) m.remove();
  els.empty.hidden = false;
  els.tpsValue.textContent = '–';
  els.input.focus();
}

// ---- composer -------------------------------------------------------------
function autoGrow() {
  els.input.style.height = 'auto';
  els.input.style.height = `${Math.min(els.input.scrollHeight, 240)}px`;
}

function submit() {
  const text = els.input.value;
  if (active || !text.trim()) return;
  els.input.value = '';
  autoGrow();
  send(text);
}

function initComposer() {
  els.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  els.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  els.input.addEventListener('input', autoGrow);
  els.stop.addEventListener('click', stop);
  els.newChat.addEventListener('click', newChat);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && active) stop();
  });
  // Copy buttons of code blocks (markdown output is re-rendered, so delegate).
  els.messages.addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-copy]');
    if (!btn) return;
    const code = btn.closest('.code-block')?.querySelector('code')?.textContent ?? '';
    copyText(code).then((ok) => {
      btn.textContent = ok ? 'Copied' : 'Copy failed';
      setTimeout(() => (btn.textContent = 'Copy'), 1200);
    });
  });
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Clipboard API needs a secure context; plain http falls back here.
    const ta = document.createElement('textarea');
    ta.value = text;
    ta.style.position = 'fixed';
    ta.style.opacity = '0';
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

initSettings();
initComposer();
loadModel();
els.input.focus();
