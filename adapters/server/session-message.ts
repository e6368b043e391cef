/**
 * The messages shared stores send each other about one session (Redis pub/sub, PostgreSQL
 * NOTIFY): `<hashed id>:t:<version>` new tokens, `<hashed id>:c` cleared, `<hashed id>:l` lock
 * released. Never a token: the hashed id and a version are all a listener learns.
 */
export type SessionMessage = { kind: 't'; version: number } | { kind: 'c' } | { kind: 'l' };

export function parseMessage(message: string): { id: string; event: SessionMessage } | null {
  const [id, kind, version] = message.split(':');
  if (!id) return null;
  if (kind === 't' && version !== undefined && /^\d+$/.test(version)) return { id, event: { kind: 't', version: Number(version) } };
  if (kind === 'c' || kind === 'l') return { id, event: { kind } };
  return null;
}
