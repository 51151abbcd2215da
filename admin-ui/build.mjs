// Builds dist/: the official Admin UI (`ui/dist` of @socket.io/admin-ui, source maps left out) with the two
// stylesheets its index.html loads from CDNs (Roboto from Google Fonts, Material Design Icons from jsDelivr)
// replaced by local copies from npm (@fontsource/roboto, @mdi/font), so the UI works without internet.
// The server serves dist/ at /admin-ui/ of its main port (--admin-ui on, --admin-ui-dir).

import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const dist = path.join(here, 'dist');
const modules = path.join(here, 'node_modules');
const ui = path.join(modules, '@socket.io', 'admin-ui', 'ui', 'dist');
const roboto = path.join(modules, '@fontsource', 'roboto');
const mdi = path.join(modules, '@mdi', 'font');

for (const dir of [ui, roboto, mdi]) {
  if (!existsSync(dir)) throw new Error(`${dir} missing: run \`npm ci\` in admin-ui/ first`);
}
const version = JSON.parse(readFileSync(path.join(modules, '@socket.io', 'admin-ui', 'package.json'), 'utf8')).version;

rmSync(dist, { recursive: true, force: true });
cpSync(ui, dist, { recursive: true, filter: (src) => !src.endsWith('.map') });

// Roboto in the weights the page asks for (100, 300, 400, 500, 700, 900), every subset, normal style.
const weights = [100, 300, 400, 500, 700, 900];
const css = weights.map((w) => readFileSync(path.join(roboto, `${w}.css`), 'utf8')).join('\n');
const fontDir = path.join(dist, 'vendor', 'roboto');
mkdirSync(path.join(fontDir, 'files'), { recursive: true });
writeFileSync(path.join(fontDir, 'roboto.css'), css);
for (const [, file] of css.matchAll(/url\(\.\/files\/([^)]+)\)/g)) {
  cpSync(path.join(roboto, 'files', file), path.join(fontDir, 'files', file));
}

// Material Design Icons: the stylesheet and the web fonts it points at (woff2, woff; the old eot/ttf are left out).
const mdiDir = path.join(dist, 'vendor', 'mdi');
mkdirSync(path.join(mdiDir, 'css'), { recursive: true });
mkdirSync(path.join(mdiDir, 'fonts'), { recursive: true });
cpSync(path.join(mdi, 'css', 'materialdesignicons.min.css'), path.join(mdiDir, 'css', 'materialdesignicons.min.css'));
for (const ext of ['woff2', 'woff']) {
  const file = `materialdesignicons-webfont.${ext}`;
  cpSync(path.join(mdi, 'fonts', file), path.join(mdiDir, 'fonts', file));
}

// Point index.html at the local copies; fail when the page no longer has the links this build knows.
const indexPath = path.join(dist, 'index.html');
let html = readFileSync(indexPath, 'utf8');
const replacements = [
  [/https:\/\/fonts\.googleapis\.com\/css\?family=Roboto[^"]*/, 'vendor/roboto/roboto.css'],
  [/https:\/\/cdn\.jsdelivr\.net\/npm\/@mdi\/font@[^"]*\/css\/materialdesignicons\.min\.css/, 'vendor/mdi/css/materialdesignicons.min.css'],
];
for (const [pattern, local] of replacements) {
  if (!pattern.test(html)) throw new Error(`index.html of @socket.io/admin-ui ${version} has no link matching ${pattern}`);
  html = html.replace(pattern, local);
}
if (/https?:\/\//.test(html)) throw new Error(`index.html still loads something remote: ${html.match(/https?:\/\/[^"]*/)[0]}`);
writeFileSync(indexPath, html);
console.log(`admin-ui: built dist/ from @socket.io/admin-ui ${version} with local fonts`);
