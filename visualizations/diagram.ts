/**
 * Diagrams of the statechart, generated from its definition (`toDirectedGraph` from
 * `xstate/graph`): Mermaid `stateDiagram-v2`, Graphviz DOT, a Markdown page, and the
 * machine JSON for Stately tools. Nothing here lists a state or an event by hand: delays
 * are named from the machine's `after` keys and their values computed with the machine's
 * own defaults, guards and actions are read from the transitions.
 */
import { toDirectedGraph, type DirectedGraphEdge, type DirectedGraphNode } from 'xstate/graph';
import { backoffDelay, defaultRefreshOptions, type RefreshContext, type RefreshMachine } from '../machines/refresh.machine.js';

/** One transition, ready to be drawn. */
export interface DrawnTransition {
  source: string;
  /** Null for a transition that only runs actions (drawn inside its state). */
  target: string | null;
  event: string;
  guard: string | null;
  actions: string[];
  reenter: boolean;
}

export interface DrawnState {
  id: string;
  /** `backoff(n)` for the state whose `attempt` counts retries. */
  label: string;
  description: string;
  tags: string[];
  initial: boolean;
  /** Transitions without a target: listed inside the state. */
  internal: DrawnTransition[];
}

export interface Drawing {
  machineId: string;
  states: DrawnState[];
  /** Transitions between states (and reentering self-transitions). */
  edges: DrawnTransition[];
  /** Transitions defined on the machine itself: they apply in every state. */
  anyState: DrawnTransition[];
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);

/** The delays of backoff(1..maxRetries) with the default options: 1 s, 2 s, 4 s. */
export function backoffSchedule(): number[] {
  const options = { ...defaultRefreshOptions };
  return Array.from({ length: options.maxRetries }, (_, i) =>
    backoffDelay({ options, attempt: i + 1, lastError: null } as Pick<RefreshContext, 'options' | 'attempt' | 'lastError'>),
  );
}

/** A readable event name: `after debounce (100 ms)`, `refresh done`, `UNAUTHORIZED`. */
export function eventLabel(eventType: string): string {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) {
    const delay = after[1]!;
    if (delay === 'debounce') return `after debounce (${seconds(defaultRefreshOptions.debounceMs)})`;
    if (delay === 'backoff') return `after backoff(n) (${backoffSchedule().map(seconds).join(' · ')})`;
    if (delay === 'proactive') return 'at refreshAt (expiry − leeway)';
    return `after ${delay}`;
  }
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (actor) return `${actor[2]} ${actor[1] === 'done' ? 'done' : 'failed'}`;
  return eventType;
}

function guardName(guard: unknown): string | null {
  if (!guard) return null;
  if (typeof guard === 'string') return guard;
  return (guard as { type?: string }).type ?? 'guard';
}

/** Named actions of a transition (inline assigns and emits are bookkeeping; the named ones say what happens). */
function actionNames(actions: readonly unknown[]): string[] {
  return actions
    .map((a) => (typeof a === 'string' ? a : typeof a === 'object' && a !== null ? (a as { type?: string }).type : undefined))
    .filter((name): name is string => typeof name === 'string' && !name.startsWith('xstate.'));
}

function collect(node: DirectedGraphNode): DirectedGraphEdge[] {
  return [...node.edges, ...node.children.flatMap(collect)];
}

/** Read the machine definition into a drawing. */
export function describeMachine(machine: RefreshMachine): Drawing {
  const graph = toDirectedGraph(machine);
  const root = machine.root;
  const edges: DrawnTransition[] = [];
  const anyState: DrawnTransition[] = [];
  const internal = new Map<string, DrawnTransition[]>();
  // Alternatives of one event are tried in order: an unguarded one after guarded ones is "else".
  const drawn = collect(graph).map((edge) => {
    const t = edge.transition;
    const siblings = t.source.transitions.get(t.eventType) ?? [];
    const index = siblings.indexOf(t);
    const guard = guardName(t.guard) ?? (index > 0 ? 'else' : null);
    const isTargetless = !t.target || t.target.length === 0;
    const drawnTransition: DrawnTransition = {
      source: t.source.key,
      target: isTargetless ? null : edge.target.key,
      event: eventLabel(t.eventType),
      guard,
      actions: actionNames(t.actions),
      reenter: Boolean(t.reenter),
    };
    return { node: t.source, drawnTransition };
  });
  for (const { node, drawnTransition } of drawn) {
    if (node === root) anyState.push(drawnTransition);
    else if (drawnTransition.target === null) internal.set(node.key, [...(internal.get(node.key) ?? []), drawnTransition]);
    else edges.push(drawnTransition);
  }
  const states: DrawnState[] = Object.values(root.states).map((node) => ({
    id: node.key,
    label: node.description?.startsWith(`${node.key}(n)`) ? `${node.key}(n)` : node.key,
    description: node.description ?? '',
    tags: [...node.tags],
    initial: root.initial?.target?.some((t) => t === node) ?? false,
    internal: internal.get(node.key) ?? [],
  }));
  return { machineId: root.id, states, edges, anyState };
}

/** `EVENT [guard] / action, action` */
export function transitionLabel(t: DrawnTransition): string {
  return [t.event, t.guard ? `[${t.guard}]` : '', t.actions.length ? `/ ${t.actions.join(', ')}` : '', t.reenter && t.target === t.source ? '(re-enter)' : '']
    .filter(Boolean)
    .join(' ');
}

const ANY = 'anyState';

/** Mermaid `stateDiagram-v2`. */
export function toMermaid(drawing: Drawing): string {
  const lines = ['stateDiagram-v2'];
  // Declare every state with its label first, or Mermaid titles it with its first note line.
  for (const state of drawing.states) lines.push(`  state "${state.label}" as ${state.id}`);
  lines.push(`  state "any state" as ${ANY}`);
  for (const state of drawing.states) {
    if (state.initial) lines.push(`  [*] --> ${state.id}`);
  }
  // One arrow per pair of states, one line per transition, as in the Graphviz drawing.
  const grouped = new Map<string, string[]>();
  const add = (from: string, t: DrawnTransition) =>
    grouped.set(`${from} --> ${t.target}`, [...(grouped.get(`${from} --> ${t.target}`) ?? []), transitionLabel(t)]);
  // Self-transitions are written inside their state (Mermaid's loops cover neighbouring labels).
  for (const t of drawing.edges) if (t.target !== t.source) add(t.source, t);
  for (const t of drawing.anyState) if (t.target) add(ANY, t);
  for (const [arrow, labels] of grouped) lines.push(`  ${arrow} : ${labels.join('<br/>')}`);
  for (const t of drawing.anyState) if (!t.target) lines.push(`  ${ANY} : ${transitionLabel(t)}`);
  for (const state of drawing.states) {
    const loops = drawing.edges.filter((t) => t.source === state.id && t.target === state.id);
    for (const t of [...state.internal, ...loops]) lines.push(`  ${state.id} : ${transitionLabel(t)}`);
  }
  lines.push(`  classDef anyState stroke-dasharray: 5 5`, `  class ${ANY} anyState`);
  return `${lines.join('\n')}\n`;
}

const dotEscape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Graphviz DOT (rendered to SVG by `dot -Tsvg`). */
export function toDot(drawing: Drawing): string {
  const lines = [
    `digraph ${JSON.stringify(drawing.machineId)} {`,
    '  rankdir=TB;',
    '  graph [fontname="Helvetica", fontsize=12, nodesep=0.5, ranksep=0.9, pad=0.3, labelloc=t, label=<<b>authchart refresh statechart</b> (generated from machines/refresh.machine.ts)>];',
    '  node [shape=plain, fontname="Helvetica", fontsize=12];',
    '  edge [fontname="Helvetica", fontsize=10, color="#444444", fontcolor="#222222"];',
    '  start [shape=circle, style=filled, fillcolor=black, width=0.18, label=""];',
  ];
  const box = (title: string, rows: string[], fill: string, dashed = false) =>
    `<<table border="${dashed ? 0 : 1}" cellborder="0" cellspacing="0" cellpadding="6" style="rounded" bgcolor="${fill}">` +
    `<tr><td><b>${dotEscape(title)}</b></td></tr>` +
    rows.map((r) => `<tr><td align="left"><font point-size="10">${dotEscape(r)}</font></td></tr>`).join('') +
    '</table>>';
  for (const state of drawing.states) {
    const fill = state.tags.includes('loggedOut') ? '#fde2e2' : state.tags.includes('waiting') ? '#fff4d6' : '#e3f1e3';
    lines.push(`  ${state.id} [label=${box(state.label, state.internal.map(transitionLabel), fill)}];`);
  }
  const anyRows = drawing.anyState.filter((t) => !t.target).map(transitionLabel);
  lines.push(`  ${ANY} [shape=box, style="rounded,dashed", label=${box('any state', anyRows, 'white', true)}];`);
  for (const state of drawing.states) if (state.initial) lines.push(`  start -> ${state.id};`);
  // One arrow per pair of states, one line per transition: parallel arrows would hide each other.
  const grouped = new Map<string, { from: string; to: string; lines: string[]; dashed: boolean }>();
  const add = (from: string, t: DrawnTransition, dashed: boolean) => {
    const key = `${from}->${t.target}`;
    const group = grouped.get(key) ?? { from, to: t.target!, lines: [], dashed };
    const head = [t.event, t.guard ? `[${t.guard}]` : '', t.reenter && t.target === t.source ? '(re-enter)' : ''].filter(Boolean).join(' ');
    group.lines.push(`<b>${dotEscape(head)}</b>${t.actions.length ? `<br align="left"/>   / ${dotEscape(t.actions.join(', '))}` : ''}`);
    grouped.set(key, group);
  };
  for (const t of drawing.edges) add(t.source, t, false);
  for (const t of drawing.anyState) if (t.target) add(ANY, t, true);
  for (const g of grouped.values()) {
    // A padded table keeps each label clear of the curves around it.
    const label = `<<table border="0" cellpadding="5" cellspacing="0"><tr><td align="left">${g.lines.join('<br align="left"/>')}<br align="left"/></td></tr></table>>`;
    lines.push(`  ${g.from} -> ${g.to} [label=${label}${g.dashed ? ', style=dashed' : ''}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** The Markdown page: the Mermaid diagram, the states and what the delays are. */
export function toMarkdown(drawing: Drawing, mermaid: string): string {
  const rows = drawing.states.map((s) => `| \`${s.label}\` | ${s.tags.map((t) => `\`${t}\``).join(' ')} | ${s.description.replace(/\|/g, '\\|')} |`);
  return [
    '# The refresh statechart',
    '',
    '<!-- Generated by `npm run diagrams` from machines/refresh.machine.ts. Do not edit: a test fails when this file is stale. -->',
    '',
    'Every arrow is a transition of `machines/refresh.machine.ts`, read from its definition.',
    '`[guard]` is the condition of a transition (alternatives are tried in order; `[else]` is the last one),',
    '`/ action` what it does. Transitions written inside a state keep it where it is; `(re-enter)` ones',
    'leave and enter it again, which restarts its timer.',
    '"any state" holds the transitions the machine defines at its root: they apply everywhere.',
    '',
    '```mermaid',
    mermaid.trimEnd(),
    '```',
    '',
    `Delays (defaults): debounce ${seconds(defaultRefreshOptions.debounceMs)} from the first 401, not extended;`,
    `backoff(n) waits ${backoffSchedule().map(seconds).join(', ')} for n = 1..${defaultRefreshOptions.maxRetries} (or Retry-After, at most ${seconds(defaultRefreshOptions.maxBackoffMs)});`,
    `${defaultRefreshOptions.maxPermanentFailures} consecutive permanent failures end the session; the proactive refresh fires at refreshAt, \`leewayMs\` before the expiry.`,
    '',
    '| state | tags | meaning |',
    '|---|---|---|',
    ...rows,
    '',
    'Also generated: [`refresh-machine.svg`](refresh-machine.svg) (Graphviz), [`refresh-machine.dot`](refresh-machine.dot),',
    '[`refresh-machine.mmd`](refresh-machine.mmd) and [`refresh-machine.json`](refresh-machine.json) (the machine definition, for Stately tools).',
    '',
  ].join('\n');
}

/** The machine definition as JSON (`machine.toJSON()`), stable text. */
export function toMachineJson(machine: RefreshMachine): string {
  return `${JSON.stringify(machine.toJSON(), null, 2)}\n`;
}

/** Every text artifact, by file name. */
export function generateDiagrams(machine: RefreshMachine): Record<string, string> {
  const drawing = describeMachine(machine);
  const mermaid = toMermaid(drawing);
  return {
    'refresh-machine.mmd': mermaid,
    'refresh-machine.md': toMarkdown(drawing, mermaid),
    'refresh-machine.dot': toDot(drawing),
    'refresh-machine.json': toMachineJson(machine),
  };
}

/** Mermaid state diagrams embedded in a Markdown text (```mermaid blocks that start with stateDiagram-v2). */
const EMBEDDED = /```mermaid\n(stateDiagram-v2\n[\s\S]*?)```/g;

export function embeddedStateDiagrams(markdown: string): string[] {
  return [...markdown.matchAll(EMBEDDED)].map((m) => m[1]!);
}

/** Replace every embedded state diagram with `mermaid`. */
export function replaceEmbeddedStateDiagrams(markdown: string, mermaid: string): string {
  return markdown.replace(EMBEDDED, () => `\`\`\`mermaid\n${mermaid}\`\`\``);
}

/** Markdown pages (relative to the repository root) whose embedded state diagram is kept in step. */
export const PAGES_WITH_DIAGRAM = ['README.md', 'docs/statechart.md'];
