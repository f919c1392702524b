// The report's "what mTLS costs each mesh" section: the table of harness/results/
// securityTables.ts (plaintext and mtls per mesh, the difference, both against the baseline,
// TLS sessions), with the published orderings beside it. Empty for runs without mtls cells.
import { securityTables } from '../harness/results/securityTables.ts';
import type { RunResult } from '../harness/results/types.ts';
import { escapeHtml, htmlTable } from './html.ts';

export function securitySection(result: RunResult): string {
  const tables = securityTables(result);
  if (tables.length === 0) return '';
  return [
    '<section id="security">',
    '<h2>What mutual TLS costs each data path</h2>',
    '<p class="caption">Each mesh plaintext and with mtls, both against the same no-mesh baseline cells; the mtls cost is the difference of the two medians. ' +
      'Published for comparison (arXiv 2411.02267, fortio, mTLS on): added latency Istio sidecar +166 %, Cilium +99 %, Linkerd +33 %, Istio ambient +8 %.</p>',
    ...tables.map((t) => `<h3>${escapeHtml(t.heading)}</h3>\n${htmlTable({ header: t.header, rows: t.rows, textColumns: [0, 7] })}`),
    '</section>',
  ].join('\n');
}
