// Builds dist/index.html: one self-contained page (JS, CSS and KaTeX woff2
// fonts inlined) so the server binary can embed it and work offline.
// Usage: node build.mjs            (from webui/, after `npm ci`)
import * as esbuild from 'esbuild';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const MAX_BYTES = 1.5 * 1024 * 1024;

// KaTeX's stylesheet lists woff2, woff and ttf for every face. Every browser
// that runs this page reads woff2, so keep only that one (then inlined as a
// data: URL by the dataurl loader).
const katexWoff2Only = {
  name: 'katex-woff2-only',
  setup(build) {
    build.onLoad({ filter: /katex[\\/]dist[\\/]katex(\.min)?\.css$/ }, async (args) => {
      let css = await readFile(args.path, 'utf8');
      const before = (css.match(/url\(/g) || []).length;
      css = css.replace(/,\s*url\(fonts\/[^)]+\.(woff|ttf)\)\s*format\("(woff|truetype)"\)/g, '');
      const after = (css.match(/url\(/g) || []).length;
      if (after === before || /\.(woff|ttf)\)/.test(css)) {
        throw new Error('katex.css font list has an unexpected shape; update the katex-woff2-only plugin');
      }
      return { contents: css, loader: 'css' };
    });
  },
};

const result = await esbuild.build({
  entryPoints: [join(root, 'src/main.js')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020', 'chrome91', 'firefox90', 'safari15'],
  loader: { '.woff2': 'dataurl' },
  plugins: [katexWoff2Only],
  outdir: join(root, 'out'),
  write: false,
  logLevel: 'warning',
});

let js = '';
let css = '';
for (const f of result.outputFiles) {
  if (f.path.endsWith('.js')) js = f.text;
  else if (f.path.endsWith('.css')) css = f.text;
}
if (!js || !css) throw new Error('esbuild produced no JS or no CSS');
// Inline <script>/<style> end at the first closing tag, whatever the context.
if (/<\/script/i.test(js)) throw new Error('bundled JS contains "</script"');
if (/<\/style/i.test(css)) throw new Error('bundled CSS contains "</style"');
if (/url\((?!["']?data:)/.test(css)) throw new Error('CSS still references an external url()');

const template = await readFile(join(root, 'src/index.html'), 'utf8');
for (const marker of ['/*INLINE_CSS*/', '/*INLINE_JS*/']) {
  if (template.split(marker).length !== 2) throw new Error(`template must contain ${marker} exactly once`);
}
// Function replacements: the bundle contains "$&"-like sequences.
const html = template.replace('/*INLINE_CSS*/', () => css.trim()).replace('/*INLINE_JS*/', () => js.trim());

const bytes = Buffer.byteLength(html);
if (bytes > MAX_BYTES) throw new Error(`dist/index.html is ${bytes} bytes, over the ${MAX_BYTES} byte budget`);
await mkdir(join(root, 'dist'), { recursive: true });
await writeFile(join(root, 'dist/index.html'), html);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`dist/index.html: ${kib(bytes)} (js ${kib(Buffer.byteLength(js))}, css ${kib(Buffer.byteLength(css))})`);
