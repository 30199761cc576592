import { describe, expect, it } from 'vitest';
import { compact, fitParts, terminalWidth } from './terminal.js';

describe('terminal output', () => {
  it('fits parts into the width, dropping whole parts from the end and marking the cut', () => {
    const parts = ['[5s]', 'windows 8', '4/4 containers up', 'generator 2.0k/s out', 'counter 1.2k→4/s', 'output 4/s in'];
    expect(fitParts(parts, 200)).toBe(parts.join('  '));
    const cut = fitParts(parts, 50);
    expect(cut.length).toBeLessThan(50);
    expect(cut).toBe('[5s]  windows 8  4/4 containers up  …');
    // A first part wider than the line is cut itself rather than dropped.
    expect(fitParts(['x'.repeat(100)], 80)).toHaveLength(79);
  });

  it('uses the terminal width, 80 columns when there is none', () => {
    expect(terminalWidth({ columns: 120 })).toBe(120);
    expect(terminalWidth({})).toBe(80);
    expect(terminalWidth({ columns: 0 })).toBe(80);
  });

  it('writes counts in a few characters', () => {
    expect([0, 999, 1000, 1549, 12_345, 1_500_000, 23_000_000].map(compact)).toEqual(['0', '999', '1.0k', '1.5k', '12k', '1.5M', '23M']);
  });
});
