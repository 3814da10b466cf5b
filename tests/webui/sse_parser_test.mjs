// Unit test of the page's SSE parser (webui/src/sse.js); plain node, no deps.
//   node tests/webui/sse_parser_test.mjs
import assert from 'node:assert/strict';
import { SseParser } from '../../webui/src/sse.js';

function feed(chunks) {
  const p = new SseParser();
  const out = [];
  for (const c of chunks) out.push(...p.push(c));
  out.push(...p.end());
  return out;
}

const body = 'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n';
// Whole, and split at every possible position (chunk boundaries are arbitrary).
assert.deepEqual(feed([body]), ['{"a":1}', '{"b":2}', '[DONE]']);
for (let i = 0; i <= body.length; i++) {
  assert.deepEqual(feed([body.slice(0, i), body.slice(i)]), ['{"a":1}', '{"b":2}', '[DONE]'], `split at ${i}`);
}
// One character at a time, CRLF line ends.
const crlf = body.replace(/\n/g, '\r\n');
assert.deepEqual(feed([...crlf]), ['{"a":1}', '{"b":2}', '[DONE]']);
// Comments, other fields, no space after the colon, multi-line data.
assert.deepEqual(feed([': keep-alive\n\nevent: x\nid: 3\ndata:x\ndata: y\n\n']), ['x\ny']);
// A final event without the blank line is still delivered at end of stream.
assert.deepEqual(feed(['data: last']), ['last']);
// Blank lines alone produce nothing.
assert.deepEqual(feed(['\n\n\n']), []);
console.log('sse_parser_test: PASS');
