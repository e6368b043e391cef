import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { refreshMachine } from '../../machines/refresh.machine.js';
import { PAGES_WITH_DIAGRAM, describeMachine, embeddedStateDiagrams, generateDiagrams, toMermaid } from '../../visualizations/diagram.js';
import { definedTransitions } from '../model/model.js';

const committed = (name: string) => readFileSync(new URL(`../../visualizations/${name}`, import.meta.url), 'utf8');

describe('the committed diagrams are what the machine generates', () => {
  const generated = generateDiagrams(refreshMachine);
  it.each(Object.keys(generated))('visualizations/%s is up to date (run `npm run diagrams`)', (name) => {
    expect(committed(name)).toBe(generated[name]);
  });

  it.each(PAGES_WITH_DIAGRAM)('the state diagram embedded in %s (when the page exists) is the generated one', (page) => {
    const path = new URL(`../../${page}`, import.meta.url);
    if (!existsSync(path)) return;
    const embedded = embeddedStateDiagrams(readFileSync(path, 'utf8'));
    for (const diagram of embedded) expect(diagram).toBe(generated['refresh-machine.mmd']);
  });

  it('the SVG was rendered from the committed DOT (same states and labels)', () => {
    const svg = committed('refresh-machine.svg');
    for (const state of describeMachine(refreshMachine).states) expect(svg).toContain(`>${state.label}<`);
    expect(svg).toContain('after backoff(n) (1 s · 2 s · 4 s)');
  });
});

describe('the drawing shows the whole machine', () => {
  const drawing = describeMachine(refreshMachine);

  it('every transition of the definition is drawn once', () => {
    const drawn = drawing.edges.length + drawing.anyState.length + drawing.states.reduce((n, s) => n + s.internal.length, 0);
    expect(drawn).toBe(definedTransitions(refreshMachine).length);
  });

  it('delays read as values, the backoff as a loop of backoff(n), guards by name', () => {
    const mermaid = toMermaid(drawing);
    expect(mermaid).toContain('debouncing --> refreshing : after debounce (100 ms)');
    expect(mermaid).toContain('backoff --> refreshing : after backoff(n) (1 s · 2 s · 4 s)');
    expect(mermaid).toContain('refreshing --> backoff : refresh failed [else]');
    expect(mermaid).toContain('[permanentLimitReached]');
    expect(mermaid).toContain('state "backoff(n)" as backoff');
  });
});
