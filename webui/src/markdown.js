// Markdown -> sanitized HTML: marked for the syntax, KaTeX for $...$, $$...$$,
// \(...\) and \[...\], highlight.js for fenced code, DOMPurify over the result
// (model output is untrusted text; raw HTML in it must not run).
import { Marked } from 'marked';
import katex from 'katex';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import latex from 'highlight.js/lib/languages/latex';
import markdown from 'highlight.js/lib/languages/markdown';
import plaintext from 'highlight.js/lib/languages/plaintext';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

const languages = {
  bash, c, cpp, css, go, java, javascript, json, latex, markdown, plaintext,
  python, rust, shell, sql, typescript, xml, yaml,
};
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);

export function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]);
}

function renderTex(tex, displayMode) {
  return katex.renderToString(tex.trim(), { displayMode, throwOnError: false, strict: 'ignore', output: 'htmlAndMathml' });
}

// Display math on its own lines: $$...$$ or \[...\].
const blockMath = {
  name: 'blockMath',
  level: 'block',
  start(src) {
    const m = src.match(/^ {0,3}(\$\$|\\\[)/m);
    return m ? m.index : undefined;
  },
  tokenizer(src) {
    const m = src.match(/^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/) || src.match(/^ {0,3}\\\[([\s\S]+?)\\\][ \t]*(?:\n+|$)/);
    if (m) return { type: 'blockMath', raw: m[0], text: m[1] };
    return undefined;
  },
  renderer(token) {
    return `<div class="math-display">${renderTex(token.text, true)}</div>\n`;
  },
};

// Inline math. "$" needs a non-space right after the opening and right before
// the closing delimiter, and no digit after it, so "$5 and $10" stays text.
const inlineMath = {
  name: 'inlineMath',
  level: 'inline',
  start(src) {
    const m = src.match(/\$|\\\(|\\\[/);
    return m ? m.index : undefined;
  },
  tokenizer(src) {
    let m = src.match(/^\$\$((?:\\.|[^\\$])+?)\$\$/);
    if (m) return { type: 'inlineMath', raw: m[0], text: m[1], display: true };
    m = src.match(/^\\\[([\s\S]+?)\\\]/);
    if (m) return { type: 'inlineMath', raw: m[0], text: m[1], display: true };
    m = src.match(/^\\\(([\s\S]+?)\\\)/);
    if (m) return { type: 'inlineMath', raw: m[0], text: m[1], display: false };
    m = src.match(/^\$(?![\s$])((?:\\.|[^\\$\n])+?)(?<!\s)\$(?!\d)/);
    if (m) return { type: 'inlineMath', raw: m[0], text: m[1], display: false };
    return undefined;
  },
  renderer(token) {
    return renderTex(token.text, token.display);
  },
};

const marked = new Marked({ gfm: true, breaks: false });
marked.use({
  extensions: [blockMath, inlineMath],
  renderer: {
    code({ text, lang }) {
      const language = ((lang || '').match(/^\S*/)[0] || '').toLowerCase();
      let body;
      if (language && hljs.getLanguage(language)) {
        body = hljs.highlight(text, { language, ignoreIllegals: true }).value;
      } else {
        body = escapeHtml(text);
      }
      const label = escapeHtml(language || 'text');
      return (
        `<div class="code-block"><div class="code-head"><span class="code-lang">${label}</span>` +
        `<button type="button" class="copy-btn" data-copy="1">Copy</button></div>` +
        `<pre><code class="hljs language-${label}">${body}</code></pre></div>\n`
      );
    },
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.getAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

// Renders untrusted markdown (possibly incomplete, mid-stream) to safe HTML.
export function renderMarkdown(src) {
  const html = marked.parse(src, { async: false });
  return DOMPurify.sanitize(html, { ADD_ATTR: ['target'] });
}
