import { describe, expect, it } from 'vitest';
import { dagSvg } from './dag-svg.js';
import { escapeHtml, html } from './html.js';

describe('the console template', () => {
  it('escapes every value put into it, in text and in attributes', () => {
    const name = `<img src=x onerror="alert(1)">'&`;
    expect(html`<td title="${name}">${name}</td>`.text).toBe('<td title="&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&amp;">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&#39;&amp;</td>');
  });

  it('keeps fragments it built, joins arrays, and writes nothing for null, undefined and false', () => {
    const rows = ['a<b', 'c'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${rows}</ul>${null}${undefined}${false}${0}`.text).toBe('<ul><li>a&lt;b</li><li>c</li></ul>0');
    expect(escapeHtml('"x"')).toBe('&quot;x&quot;');
  });

  it("draws an operator's name from STRAM as text, never as markup", () => {
    const svg = dagSvg({ operators: [{ name: '</text><script>x</script>', partitions: 2 }, { name: 'b', partitions: 1 }], streams: [{ name: 's', from: '</text><script>x</script>', to: ['b'], locality: 'separate' }] }, 'dag').text;
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;/text&gt;&lt;script&gt;');
    expect(svg.match(/class="dag-operator"/g)).toHaveLength(2);
    expect(svg).toContain('2 partitions');
  });
});
