// Charts rendered to SVG in Node (no browser, no canvas) for summary.md and the README.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function renderChartSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
