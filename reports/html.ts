// HTML building blocks shared by report.html and the dashboard: escaping, the inlined
// vega + vega-lite runtime (so a page opens offline), the chart bootstrap script, the style.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

/** Text into HTML (element content and quoted attribute values). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON safe inside a <script> element: no `</script>`, no `<!--`, no line separators. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export interface RuntimeLibrary {
  name: string;
  version: string;
  /** The UMD build's source, ready to inline. */
  source: string;
}

const require = createRequire(import.meta.url);

/** A package's folder: from its resolved entry up to the package.json that names it. */
function packageDir(name: string): string {
  // Neither the UMD builds nor package.json are in these packages' `exports`, so resolve the
  // entry point and walk up.
  let dir = dirname(require.resolve(name));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the folder of package ${name}`);
    dir = parent;
  }
}

let runtimeCache: RuntimeLibrary[] | undefined;

/** vega and vega-lite UMD builds (globals `vega`, `vegaLite`), read by path, source maps stripped. */
export function chartRuntime(): RuntimeLibrary[] {
  runtimeCache ??= [
    ['vega', 'build/vega.min.js'],
    ['vega-lite', 'build/vega-lite.min.js'],
  ].map(([name, file]) => {
    const dir = packageDir(name!);
    const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const source = readFileSync(join(dir, file!), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    if (/<\/script|<!--/i.test(source)) throw new Error(`${name}/${file} contains a script terminator; cannot inline it`);
    return { name: name!, version, source };
  });
  return runtimeCache;
}

export interface ChartSlot {
  /** Element id, unique in the page. */
  id: string;
  spec: TopLevelSpec;
}

/**
 * Renders every chart of the page into its slot as SVG. A chart that fails says so in its
 * slot and on the console (the browser test watches both); a rendered one is marked
 * `data-rendered`.
 */
const CHART_BOOTSTRAP = `
(function () {
  var charts = JSON.parse(document.getElementById('meshbench-charts').textContent);
  var pending = charts.length;
  function done() { if (--pending === 0) document.body.setAttribute('data-charts-done', 'true'); }
  if (pending === 0) document.body.setAttribute('data-charts-done', 'true');
  charts.forEach(function (chart) {
    var slot = document.getElementById(chart.id);
    function fail(err) {
      slot.setAttribute('data-failed', 'true');
      slot.textContent = 'This chart could not be drawn: ' + (err && err.message ? err.message : err);
      console.error('chart ' + chart.id + ': ' + (err && err.stack ? err.stack : err));
      done();
    }
    try {
      var view = new vega.View(vega.parse(vegaLite.compile(chart.spec).spec), { renderer: 'svg', container: slot, hover: true });
      view.runAsync().then(function () { slot.setAttribute('data-rendered', 'true'); done(); }, fail);
    } catch (err) { fail(err); }
  });
})();
`;

export function chartScripts(charts: readonly ChartSlot[]): string {
  const libraries = chartRuntime()
    .map((lib) => `<script data-library="${escapeHtml(lib.name)}@${escapeHtml(lib.version)}">\n${lib.source}\n</script>`)
    .join('\n');
  return [
    libraries,
    `<script type="application/json" id="meshbench-charts">${jsonForScript(charts.map((c) => ({ id: c.id, spec: c.spec })))}</script>`,
    `<script>${CHART_BOOTSTRAP}</script>`,
  ].join('\n');
}

/**
 * Offline by construction: no source but the page itself (vega compiles expressions with
 * `new Function`, hence 'unsafe-eval'); links may still be followed by the reader.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:";

export const PAGE_STYLE = `
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --line: #e3e3e3; --bad: #b3261e; --good: #1e7b34; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 64px; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 6px; }
p.question { font-size: 16px; color: var(--muted); margin: 4px 0 12px; }
p.verdict { font-size: 18px; line-height: 1.45; margin: 8px 0 14px; padding: 12px 16px; background: #f6f8fa; border-left: 4px solid #2e86ab; }
p.meta, .caption { color: var(--muted); font-size: 13.5px; }
.chart { margin: 12px 0 4px; min-height: 60px; overflow-x: auto; }
.chart[data-failed] { color: var(--bad); }
.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: right; white-space: nowrap; vertical-align: top; }
th { background: #fafafa; font-weight: 600; }
td:first-child, th:first-child, td.text, th.text { text-align: left; }
td.wrap { white-space: normal; text-align: left; }
.bad { color: var(--bad); font-weight: 600; }
.good { color: var(--good); }
.warn { color: #8a5a00; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
ul.notes li { margin: 3px 0; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 14px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; }
nav.toc { font-size: 13.5px; color: var(--muted); }
nav.toc a { margin-right: 12px; }
`;

export function page(options: { title: string; body: string; charts: readonly ChartSlot[] }): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(CONTENT_SECURITY_POLICY)}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="meshbench">',
    `<title>${escapeHtml(options.title)}</title>`,
    `<style>${PAGE_STYLE}</style>`,
    '</head>',
    '<body>',
    options.body,
    chartScripts(options.charts),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** A chart's slot in the page. */
export function chartSlot(id: string, caption?: string): string {
  return `<figure class="chart-figure"><div class="chart" id="${escapeHtml(id)}" role="img"></div>${caption ? `<figcaption class="caption">${caption}</figcaption>` : ''}</figure>`;
}

export interface HtmlTable {
  header: string[];
  rows: string[][];
  /** Column indexes holding text (left-aligned). */
  textColumns?: number[];
}

/** A table; cells are escaped here, and a newline in a cell becomes a line break. */
export function htmlTable(table: HtmlTable, rowClass?: (row: number) => string | undefined): string {
  const cls = (column: number) => (table.textColumns?.includes(column) ? ' class="text"' : '');
  const head = `<tr>${table.header.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = table.rows
    .map((row, r) => {
      const klass = rowClass?.(r);
      return `<tr${klass ? ` class="${escapeHtml(klass)}"` : ''}>${row.map((cell, i) => `<td${cls(i)}>${escapeHtml(cell).replace(/\n/g, '<br>')}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<div class="table-scroll"><table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}
